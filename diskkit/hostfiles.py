"""Copying files out of an image's filesystem onto the host, safely.

The host side is where a hostile image does harm: names that could leave the destination
(``..``, separators, control characters, names the host cannot encode) are refused, nothing is
written through a symbolic link, and an existing non-directory is never reused as a directory.
``export`` works with any filesystem reader that offers ``stat(path)`` (entries with ``name``,
``is_dir``, ``mtime``), ``walk(path)`` yielding ``(dirpath, dirs, files)`` and
``iter_read(path)``.
"""

from __future__ import annotations

import os
import stat as statmod

from .errors import CorruptImage, ImageIOError, UsageError


def safe_host_name(name: str, where: str) -> str:
    """``name`` if it is safe as one host path component, else CorruptImage (hostile image)."""
    if (name in ("", ".", "..") or any(c in name for c in "/\\:\x00")
            or any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in name)):
        raise CorruptImage(f"{where}: refusing to extract unsafe name {name!r}")
    return name


def make_host_dir(path: str) -> None:
    """mkdir that refuses to reuse anything but a real directory (never a symlink)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        st = os.lstat(path)
        if not statmod.S_ISDIR(st.st_mode):
            raise UsageError(f"{path}: exists and is not a directory (symbolic links are not "
                             "followed)") from None


def write_all(fd: int, data) -> None:
    view = memoryview(data)
    while len(view):
        view = view[os.write(fd, view):]


def write_host_file(target: str, chunks, mtime: float | None = None, on_progress=None) -> None:
    """Create or replace ``target`` with ``chunks``' bytes, refusing to follow a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except OSError:
        if os.path.islink(target):
            raise UsageError(f"{target}: is a symbolic link; refusing to write through it") from None
        raise
    try:
        for chunk in chunks:
            write_all(fd, chunk)
            if on_progress:
                on_progress(len(chunk))
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _parts(path: str) -> list[str]:
    return [p for p in path.replace("\\", "/").split("/") if p and p != "."]


def export(fs, src: str, host_dest: str, recursive: bool = False, on_progress=None) -> None:
    """Copy ``src`` (a file, or with ``recursive`` a tree) to ``host_dest``, or into it when
    it is an existing directory; never writes outside ``host_dest``."""
    entry = fs.stat(src)
    try:
        into = os.path.isdir(host_dest) and _parts(src)
        target = os.path.join(host_dest, safe_host_name(entry.name, src)) if into else host_dest
        if not entry.is_dir:
            write_host_file(target, fs.iter_read(src), entry.mtime, on_progress)
            return
        if not recursive:
            raise UsageError(f"{src}: is a directory (use recursive copy)")
        make_host_dir(target)
        prefix = "/" + "/".join(_parts(src))
        for dpath, dirs, files in fs.walk(src):
            rel = [safe_host_name(p, dpath) for p in _parts(dpath[len(prefix):])]
            host_dir = os.path.join(target, *rel)
            for d in dirs:
                make_host_dir(os.path.join(host_dir, safe_host_name(d.name, dpath)))
            for f in files:
                path = dpath.rstrip("/") + "/" + f.name
                write_host_file(os.path.join(host_dir, safe_host_name(f.name, dpath)),
                                fs.iter_read(path), f.mtime, on_progress)
    except OSError as exc:
        raise ImageIOError(f"{exc.filename or host_dest}: {exc.strerror or exc}") from None
