"""Where built images live: a directory per test under pytest, else one per process.

The pytest plugin points ``scope`` at a fresh directory for each test and removes it after
(unless told to keep it); outside pytest, images go to a temporary directory removed when
the process exits.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass

from .build import as_description, build
from .model import Description

_current: str | None = None
_process: tempfile.TemporaryDirectory | None = None
_counter = itertools.count(1)


@dataclass
class SyntheticImage:
    """A built image file and the description of what is in it. Usable as a path."""

    path: str
    description: Description

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path


def directory() -> str:
    """The directory new images go to (created on first use)."""
    global _process
    if _current is not None:
        os.makedirs(_current, exist_ok=True)
        return _current
    if _process is None:
        _process = tempfile.TemporaryDirectory(prefix="diskkit-synth-")
    return _process.name


@contextlib.contextmanager
def scope(path: str, keep: bool = False):
    """Images made inside the block go to ``path``, which is removed afterwards unless
    ``keep``."""
    global _current
    saved, _current = _current, str(path)
    try:
        yield str(path)
    finally:
        _current = saved
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def new_path(suffix: str = ".img") -> str:
    """A path for a new file in ``directory()`` (nothing is created)."""
    return os.path.join(directory(), f"image-{os.getpid()}-{next(_counter)}{suffix}")


def suffix_for(desc: Description) -> str:
    kind = desc.container.kind
    return ".img" if kind == "raw" else ".vhdx" if kind.startswith("vhdx") else ".vhd"


def make(desc: Description, path: str | None = None) -> SyntheticImage:
    """Build ``desc`` (or any part of one) at ``path`` (default: a new scratch path)."""
    desc = as_description(desc)
    path = os.fspath(path) if path is not None else new_path(suffix_for(desc))
    build(desc, path, force=True, durable=False)
    return SyntheticImage(path, desc)
