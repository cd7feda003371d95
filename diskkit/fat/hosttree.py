"""Copying between the host's file tree and a FAT volume: ``put`` (in) and ``get`` (out).

The host side is where hostile names do harm: ``get`` refuses any name that could leave its
destination (``..``, separators, control characters) and never writes through a symbolic
link; ``put`` copies regular files and directories only, never following symbolic links.
"""

from __future__ import annotations

import os
import stat as statmod

from ..errors import CorruptImage, ImageIOError, UsageError
from . import names
from .directory import Entry
from .fs import FatFS, split_path


def safe_host_name(name: str, where: str) -> str:
    """``name`` if it is safe as one host path component, else CorruptImage (hostile image)."""
    if (name in ("", ".", "..") or any(c in name for c in "/\\:\x00")
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)):
        raise CorruptImage(f"{where}: refusing to extract unsafe name {name!r}")
    return name


def put(fs: FatFS, host_src: str, dest: str = "/", recursive: bool = False, on_skip=None) -> None:
    """Copy a host file (or, ``recursive``, a tree) in; into ``dest`` if it is a directory."""
    try:
        st = os.stat(host_src)
    except OSError as exc:
        raise ImageIOError(f"{host_src}: {exc.strerror or exc}") from None
    base = os.path.basename(os.path.normpath(host_src))
    target = dest
    if fs.exists(dest) and fs.stat(dest).is_dir:
        target = fs.join("/" + "/".join(split_path(dest)), base)
    if statmod.S_ISDIR(st.st_mode) and not recursive:
        raise UsageError(f"{host_src}: is a directory (use recursive copy)")
    with fs.transaction():
        if statmod.S_ISDIR(st.st_mode):
            _put_tree(fs, host_src, target, on_skip)
        else:
            fs.write_file(target, host_src)


def _put_tree(fs, host_root: str, target: str, on_skip) -> None:
    stack = [(host_root, target)]
    while stack:
        host_dir, fat_dir = stack.pop()
        if not (fs.exists(fat_dir) and fs.stat(fat_dir).is_dir):
            fs.mkdir(fat_dir, mtime=os.stat(host_dir).st_mtime)
        try:
            items = sorted(os.scandir(host_dir), key=lambda e: e.name)
        except OSError as exc:
            raise ImageIOError(f"{host_dir}: {exc.strerror or exc}") from None
        subdirs = []
        for item in items:
            _check_host_name(item.name, item.path)
            child = fs.join(fat_dir, item.name)
            if item.is_dir(follow_symlinks=False):
                subdirs.append((item.path, child))
            elif item.is_file():
                fs.write_file(child, item.path)
            elif on_skip:
                on_skip(item.path)
        stack.extend(reversed(subdirs))


def get(fs: FatFS, src: str, host_dest: str, recursive: bool = False) -> None:
    """Copy a file (or, ``recursive``, a tree) out; never writes outside ``host_dest``."""
    entry = fs.stat(src)
    try:
        if not entry.is_dir:
            target = host_dest
            if os.path.isdir(host_dest):
                target = os.path.join(host_dest, safe_host_name(entry.name, src))
            _extract_file(fs, src, entry, target)
            return
        if not recursive:
            raise UsageError(f"{src}: is a directory (use recursive copy)")
        root = host_dest
        if os.path.isdir(host_dest) and split_path(src):
            root = os.path.join(host_dest, safe_host_name(entry.name, src))
        _extract_tree(fs, src, root)
    except OSError as exc:
        raise ImageIOError(f"{exc.filename or host_dest}: {exc.strerror or exc}") from None


def _extract_file(fs, src: str, entry: Entry, target: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except OSError:
        if os.path.islink(target):
            raise UsageError(f"{target}: is a symbolic link; refusing to write through it") from None
        raise
    try:
        for chunk in fs.iter_read(src):
            _write_all(fd, chunk)
            if fs.on_progress:
                fs.on_progress(len(chunk))
        mtime = entry.mtime
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def _extract_tree(fs, src: str, host_root: str) -> None:
    _make_host_dir(host_root)
    prefix = "/" + "/".join(split_path(src))
    for dpath, entries in fs.walk(src):
        rel = [safe_host_name(p, dpath) for p in split_path(dpath[len(prefix):])]
        host_dir = os.path.join(host_root, *rel)
        for entry in entries:
            name = safe_host_name(entry.name, dpath)
            target = os.path.join(host_dir, name)
            if entry.is_dir:
                _make_host_dir(target)
            else:
                _extract_file(fs, fs.join(dpath, entry.name), entry, target)


def _check_host_name(name: str, path: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{path!r}: file name is not valid UTF-8") from None
    try:
        names.check_long_name(name)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _make_host_dir(path: str) -> None:
    """mkdir that refuses to reuse anything but a real directory (never a symlink)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        st = os.lstat(path)
        if not statmod.S_ISDIR(st.st_mode):
            raise UsageError(f"{path}: exists and is not a directory (symbolic links are not "
                             "followed)") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while len(view):
        view = view[os.write(fd, view):]
