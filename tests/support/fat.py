"""FAT volumes in tests: images, fsck.fat runs, and whole-tree snapshots (diskkit, mtools, libfsfat)."""

from __future__ import annotations

import os
import subprocess
import tempfile

from diskkit.blockdev import FileDevice, SliceDevice
from support import ENV, need_module, need_tool, run


def new_image(path, size: int) -> str:
    """A sparse raw file of ``size`` bytes."""
    with open(path, "wb") as fh:
        fh.truncate(size)
    return str(path)


def open_volume(path: str, offset: int = 0, size: int | None = None, writable: bool = True):
    """The FAT volume's device: the whole image, or a slice at ``offset``."""
    dev = FileDevice(path, writable=writable)
    if offset or size is not None:
        return SliceDevice(dev, offset, (size if size is not None else dev.size - offset))
    return dev


def fsck(path: str, offset: int = 0, size: int | None = None) -> subprocess.CompletedProcess:
    """``fsck.fat -n -v`` on the image (a partition is copied out first: fsck takes no offset)."""
    need_tool("fsck.fat")
    if not offset and size is None:
        return run("fsck.fat", "-n", "-v", path, check=False)
    with tempfile.TemporaryDirectory() as tmp:
        part = os.path.join(tmp, "part.img")
        with open(path, "rb") as src, open(part, "wb") as dst:
            src.seek(offset)
            left = size if size is not None else os.path.getsize(path) - offset
            while left:
                block = src.read(min(left, 4 << 20))
                dst.write(block)
                left -= len(block)
        return run("fsck.fat", "-n", "-v", part, check=False)


def assert_fsck_clean(path: str, offset: int = 0, size: int | None = None) -> None:
    proc = fsck(path, offset, size)
    assert proc.returncode == 0, f"fsck.fat found problems:\n{proc.stdout}\n{proc.stderr}"
    for bad in ("differ", "wrong", "Reclaimed", "Fixing", "Auto-correcting", "Dirty"):
        assert bad not in proc.stdout, proc.stdout


def host_tree(root: str) -> dict[str, bytes | None]:
    """``{relative path: bytes}`` of a host tree; directories map to None."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for f in filenames:
            with open(os.path.join(dirpath, f), "rb") as fh:
                out[os.path.normpath(os.path.join(rel, f))] = fh.read()
    return out


def fat_tree(fs, top: str = "/") -> dict[str, bytes | None]:
    """The same snapshot read through diskkit."""
    out: dict[str, bytes | None] = {}
    prefix = top.rstrip("/")
    for dpath, entries in fs.walk(top):
        for e in entries:
            full = fs.join(dpath, e.name)
            out[full[len(prefix) + 1:]] = None if e.is_dir else fs.read_file(full)
    return out


def mtools_tree(image: str, offset: int = 0) -> dict[str, bytes | None]:
    """The snapshot as mtools' ``mcopy -s`` extracts it (an independent reader)."""
    need_tool("mcopy")
    spec = f"{image}@@{offset}" if offset else image
    env = dict(ENV, LC_ALL="C.UTF-8")  # so mtools maps long names to UTF-8, not '_'
    with tempfile.TemporaryDirectory() as tmp:
        listing = subprocess.run(["mdir", "-i", spec, "-b", "-/", "::"], env=env,
                                 capture_output=True)
        if listing.returncode:  # mdir -b fails on an empty root: make sure that is why
            plain = subprocess.run(["mdir", "-i", spec, "::"], env=env, capture_output=True)
            assert b"No files" in plain.stdout, plain.stdout + plain.stderr
        elif listing.stdout.split():
            subprocess.run(["mcopy", "-i", spec, "-s", "-n", "-m", "::/*", tmp + "/"], env=env,
                           check=True, capture_output=True)
        return host_tree(tmp)


def pyfsfat_tree(image: str, offset: int = 0) -> dict[str, bytes | None]:
    """The snapshot as libfsfat (pyfsfat) reads it, through a file object at ``offset``;
    skips naming pyfsfat when it is not installed (call it after the other oracles)."""
    pyfsfat = need_module("pyfsfat")

    class Window:
        def __init__(self, fh, base):
            self.fh, self.base, self.pos = fh, base, 0

        def read(self, n=-1):
            self.fh.seek(self.base + self.pos)
            data = self.fh.read(n)
            self.pos += len(data)
            return data

        def seek(self, off, whence=0):
            end = os.path.getsize(image) - self.base
            self.pos = {0: off, 1: self.pos + off, 2: end + off}[whence]
            return self.pos

        def tell(self):
            return self.pos

        def get_size(self):
            return os.path.getsize(image) - self.base

    out: dict[str, bytes | None] = {}
    with open(image, "rb") as fh:
        vol = pyfsfat.volume()
        vol.open_file_object(Window(fh, offset))

        def walk(entry, prefix):
            for i in range(entry.number_of_sub_file_entries):
                child = entry.get_sub_file_entry(i)
                path = f"{prefix}{child.name}"
                if child.file_attribute_flags & 0x10:
                    out[path] = None
                    walk(child, path + "/")
                else:
                    out[path] = child.read_buffer(child.size) if child.size else b""

        walk(vol.get_root_directory(), "")
        vol.close()
    return out
