"""Creating output files safely: write under a temporary name, rename when complete."""

from __future__ import annotations

import contextlib
import os
import re
import sys

from .blockdev import crash_point, is_device_path
from .errors import AlreadyExists, ImageIOError, UsageError

_WINDOWS_PATH = re.compile(r"^([A-Za-z]:[\\/]|\\\\)")


def temp_name(path: str) -> str:
    """The name a new output is built under; an interrupted run leaves only this behind."""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.diskkit-tmp")


def is_windows_path(path) -> bool:
    """``D:\\drv`` or ``\\\\server\\share``: a path only Windows can open."""
    return bool(_WINDOWS_PATH.match(os.fspath(path)))


def check_host_path(path: str) -> None:
    """Refuse a Windows drive path (``D:\\ramos\\win.vhd``) for a file written on another system."""
    if sys.platform != "win32" and is_windows_path(path):
        raise UsageError(f"{path}: is a Windows path; here, give where the file goes on this "
                         "system (the Windows path is for the Windows side, e.g. --windows-path)")


def check_new_output(path: str, force: bool) -> None:
    """Refuse to replace an existing file (or ever a device) unless ``force``."""
    check_host_path(path)
    if is_device_path(path):
        raise UsageError(f"{path}: is a device; diskkit creates image files only")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory")
    if os.path.lexists(path) and not force:
        raise AlreadyExists(f"{path}: already exists (use --force to overwrite)")


def make_parents(path: str) -> list[str]:
    """Create the missing folders above the new file ``path``; return them, outermost first.

    A user naming ``D:\\ramos\\win.vhd`` on first use means the folder too. A file where a
    folder should be, or a folder the host refuses to create, is a one-line error.
    """
    missing = []
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        missing.append(parent)
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{path}: {parent} is a file, not a folder")
    created = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except OSError as exc:
            remove_folders(created)
            raise ImageIOError(f"{path}: cannot create the folder {folder}: "
                               f"{exc.strerror or exc}") from None
        created.append(folder)
    return created


def remove_folders(folders: list[str]) -> None:
    """Undo ``make_parents`` after a failed write (only folders still empty go)."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


@contextlib.contextmanager
def new_output_folders(path: str):
    """Missing parent folders of ``path`` exist inside the block; removed again on failure."""
    created = make_parents(path)
    try:
        yield
    except BaseException:
        remove_folders(created)
        raise


@contextlib.contextmanager
def atomic_output(path: str, force: bool = False, durable: bool = True):
    """Yield a temporary path; on success it is fsynced and renamed over ``path``.

    Missing parent folders are created. On any failure (including KeyboardInterrupt) the
    temporary file and those folders are removed and ``path`` is untouched, so a failed
    create leaves nothing. ``durable=False`` skips the fsync: for scratch files (test images)
    that a power cut may lose but that still appear only when complete.
    """
    check_new_output(path, force)
    tmp = temp_name(path)
    with new_output_folders(path):
        if os.path.lexists(tmp):
            os.unlink(tmp)
        try:
            yield tmp
            if durable:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
            crash_point()
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
