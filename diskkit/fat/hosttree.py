"""Copying between the host's file tree and a FAT volume: ``put`` (in) and ``get`` (out).

The host side is where hostile names do harm: ``get`` goes through ``diskkit.hostfiles`` (the
rules every filesystem shares: no name that could leave the destination, never writing through
a symbolic link); ``put`` copies regular files and directories only, never following symbolic
links.
"""

from __future__ import annotations

import os
import stat as statmod

from ..errors import ImageIOError, NoSpace, UsageError
from ..hostfiles import export
from ..units import format_size
from . import names
from .directory import check_file_size
from .fs import FatFS, split_path


def put(fs: FatFS, sources, dest: str = "/", recursive: bool = False, on_skip=None) -> None:
    """Copy host files (or, ``recursive``, trees) in: into ``dest`` when it is a directory,
    else to that name. Every source is looked at first, so a file FAT cannot hold (over
    4 GiB - 1), a name it cannot store, or more data than the volume has room for stops the
    copy before anything is written. ``on_skip(path)`` hears of what is neither file nor
    directory (symbolic links, devices), which is never copied."""
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    into = fs.exists(dest) and fs.stat(dest).is_dir
    if len(sources) > 1 and not into:
        raise UsageError(f"{dest}: copying several sources needs an existing directory")
    steps = []  # (host path, FAT path, host stat) in the order they are copied
    for src in map(os.fspath, sources):
        st = _lstat(src, follow=True)
        base = os.path.basename(os.path.normpath(src))
        target = fs.join("/" + "/".join(split_path(dest)), base) if into else dest
        if statmod.S_ISDIR(st.st_mode):
            if not recursive:
                raise UsageError(f"{src}: is a directory (use recursive copy)")
            steps += _tree_steps(src, target, st, on_skip)
        elif statmod.S_ISREG(st.st_mode):
            steps.append((src, target, st))
        else:
            raise UsageError(f"{src}: not a regular file or directory")
    _check_fits(fs, steps)
    with fs.transaction():
        for host, target, st in steps:
            if not statmod.S_ISDIR(st.st_mode):
                fs.write_file(target, host)
            elif not (fs.exists(target) and fs.stat(target).is_dir):
                fs.mkdir(target, mtime=st.st_mtime)


def _lstat(path: str, follow: bool = False) -> os.stat_result:
    try:
        return os.stat(path) if follow else os.lstat(path)
    except OSError as exc:
        raise ImageIOError(f"{path}: {exc.strerror or exc}") from None


def _tree_steps(host_root: str, target: str, root_stat, on_skip) -> list:
    """The directories and files of a host tree, parents first, entries in sorted order;
    symbolic links are neither followed nor copied."""
    steps = [(host_root, target, root_stat)]
    stack = [(host_root, target)]
    while stack:
        host_dir, fat_dir = stack.pop()
        try:
            items = sorted(os.scandir(host_dir), key=lambda e: e.name)
        except OSError as exc:
            raise ImageIOError(f"{host_dir}: {exc.strerror or exc}") from None
        subdirs = []
        for item in items:
            _check_host_name(item.name, item.path)
            child = FatFS.join(fat_dir, item.name)
            st = _lstat(item.path)
            if statmod.S_ISDIR(st.st_mode):
                steps.append((item.path, child, st))
                subdirs.append((item.path, child))
            elif statmod.S_ISREG(st.st_mode):
                steps.append((item.path, child, st))
            elif on_skip:
                on_skip(item.path)
        stack.extend(reversed(subdirs))
    return steps


def _check_fits(fs: FatFS, steps) -> None:
    """Refuse, before a byte is written, files FAT cannot hold and more than the free space."""
    cs = fs.layout.cluster_size
    need = 0
    for host, _, st in steps:
        if statmod.S_ISDIR(st.st_mode):
            need += 1
        else:
            check_file_size(st.st_size, host)
            need += -(-st.st_size // cs)
    if need > fs.fat.free_count:
        raise NoSpace(f"{fs.dev.name}: the copy needs at least {format_size(need * cs)}, the "
                      f"volume has {format_size(fs.fat.free_count * cs)} free; nothing was "
                      "copied")


class _Tree:
    """The FAT volume as ``hostfiles.export`` walks a filesystem: ``(dirpath, dirs, files)``."""

    def __init__(self, fs: FatFS):
        self.fs = fs

    def stat(self, path: str):
        return self.fs.stat(path)

    def iter_read(self, path: str):
        return self.fs.iter_read(path)

    def walk(self, path: str):
        for dpath, entries in self.fs.walk(path):
            yield (dpath, [e for e in entries if e.is_dir], [e for e in entries if not e.is_dir])


def get(fs: FatFS, src: str, host_dest: str, recursive: bool = False) -> None:
    """Copy a file (or, ``recursive``, a tree) out; never writes outside ``host_dest``."""
    export(_Tree(fs), src, host_dest, recursive, on_progress=fs.on_progress)


def _check_host_name(name: str, path: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{path!r}: file name is not valid UTF-8") from None
    try:
        names.check_long_name(name)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
