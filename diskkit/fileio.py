"""Creating output files safely: write under a temporary name, rename when complete."""

from __future__ import annotations

import contextlib
import os

from .blockdev import crash_point, is_device_path
from .errors import AlreadyExists, UsageError


def temp_name(path: str) -> str:
    """The name a new output is built under; an interrupted run leaves only this behind."""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.diskkit-tmp")


def check_new_output(path: str, force: bool) -> None:
    """Refuse to replace an existing file (or ever a device) unless ``force``."""
    if is_device_path(path):
        raise UsageError(f"{path}: is a device; diskkit creates image files only")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory")
    if os.path.lexists(path) and not force:
        raise AlreadyExists(f"{path}: already exists (use --force to overwrite)")


@contextlib.contextmanager
def atomic_output(path: str, force: bool = False):
    """Yield a temporary path; on success it is fsynced and renamed over ``path``.

    On any failure (including KeyboardInterrupt) the temporary file is removed and ``path``
    is untouched, so a failed create leaves nothing.
    """
    check_new_output(path, force)
    tmp = temp_name(path)
    if os.path.lexists(tmp):
        os.unlink(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        crash_point()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
