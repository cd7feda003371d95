"""pytest plugin (entry point ``pytest11``): synthetic images as fixtures, removed after each test.

- ``diskkit_image(**constraints)`` builds the simplest image meeting the constraints, or one
  drawn from ``seed=N``, or a given ``Description``::

      def test_copy_out(diskkit_image):
          img = diskkit_image(table="gpt", fs="fat32", files={"EFI/BOOT/BOOTX64.EFI": b"MZ"})

- ``tmp_image(suffix)`` is a fresh path for an image a test writes itself.

Every image made during a test (by these fixtures or by the ``diskkit.testing`` strategies)
lives in a directory of its own that is removed when the test ends; ``--diskkit-keep-images``
keeps them (the path is printed). Loading the plugin costs nothing until a test builds one.
"""

from __future__ import annotations

import os
import tempfile

import pytest


def pytest_addoption(parser):
    parser.addoption("--diskkit-keep-images", action="store_true",
                     help="keep the images diskkit's fixtures and strategies build")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    from . import scratch

    keep = item.config.getoption("diskkit_keep_images")
    path = os.path.join(tempfile.gettempdir(), f"diskkit-images-{os.urandom(6).hex()}")
    with scratch.scope(path, keep=keep):  # created only when a test builds an image
        yield
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    if keep and reporter is not None and os.path.isdir(path):
        reporter.write_line(f"{item.nodeid}: diskkit images kept in {path}")


@pytest.fixture
def diskkit_image():
    """Build a synthetic image: ``diskkit_image(table="gpt", fs="fat32", files={...})``."""
    from . import describe, make
    from .model import Description

    def build(description: Description | None = None, seed: int | None = None, **constraints):
        return make(description if description is not None else describe(seed, **constraints))
    return build


@pytest.fixture
def tmp_image():
    """A fresh path for an image file, removed with the test's images: ``tmp_image(".vhd")``."""
    from . import scratch

    return lambda suffix=".img": scratch.new_path(suffix)
