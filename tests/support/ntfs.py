"""NTFS test volumes and the oracles' view of them.

The volumes come from ``benchmarks/ntfscraft.py`` (mkntfs, wimapply, an ntfs-3g FUSE mount,
wimlib's compressors): here a missing tool becomes a skip. ``libfsntfs_tree`` reads a volume
with libfsntfs (pyfsntfs) into ``{path: (is_dir, size, mtime, sha256)}``; ``diskkit_tree``
gives the same view through ``NtfsVolume``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random

import pytest

from benchmarks import ntfscraft
from benchmarks.ntfscraft import Unavailable
from support import need_module, need_tool, run

MiB = 1 << 20


def _skip_unavailable(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Unavailable as exc:
            pytest.skip(str(exc))
    return run


mkntfs = _skip_unavailable(ntfscraft.mkntfs)
apply_tree = _skip_unavailable(ntfscraft.apply_tree)
make_wof_file = _skip_unavailable(ntfscraft.make_wof_file)
quick_formatted = _skip_unavailable(ntfscraft.quick_formatted)


@contextlib.contextmanager
def mounted(image: str):
    try:
        with ntfscraft.mounted(image) as mnt:
            yield mnt
    except Unavailable as exc:
        pytest.skip(str(exc))


# -- host trees --------------------------------------------------------------------------
NAMES = ["readme.txt", "Ünïcödé naïve.txt", "中文文件名.doc", "emoji 😀 file", "spaces  in  name",
         "x" * 255, "UPPER.TXT", "mixed.Case.Name.ext", "ελληνικά", "日本語のファイル",
         "dotted.name.with.many.parts", "semi;colon", "percent%20", "#hash", "tilde~1"]


def _content(rng: random.Random, size: int) -> bytes:
    kind = rng.randrange(3)
    if kind == 0:
        return rng.randbytes(size)
    if kind == 1:
        return bytes(size)
    words = [rng.randbytes(rng.randrange(1, 12)) for _ in range(40)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out[:size])


def make_tree(root: str, seed: int = 1, files: int = 300, big_dir: int = 0, depth: int = 12,
              max_size: int = 300_000) -> dict[str, bytes | None]:
    """A deterministic tree: varied sizes (0, resident, cluster edges, large), Unicode and
    255-character names, one directory ``depth`` levels deep, one with ``big_dir`` files."""
    rng = random.Random(seed)
    tree: dict[str, bytes | None] = {}

    def add_dir(rel: str) -> None:
        os.makedirs(os.path.join(root, rel), exist_ok=True)
        tree["/" + rel] = None

    def add_file(rel: str, data: bytes) -> None:
        with open(os.path.join(root, rel), "wb") as fh:
            fh.write(data)
        tree["/" + rel] = data

    dirs = [""]
    for i in range(8):
        rel = f"dir{i}"
        add_dir(rel)
        dirs.append(rel)
    deep = "deep"
    add_dir(deep)
    for level in range(depth):
        deep = f"{deep}/level{level:02d} directory"
        add_dir(deep)
    add_file(deep + "/bottom.txt", b"at the bottom\n")
    for name in NAMES:
        add_file(name, _content(rng, rng.choice([0, 1, 500, 4095, 4096, 4097, 70000])))
    sizes = [0, 1, 100, 600, 1023, 1024, 4095, 4096, 4097, 65536, 65537]
    for i in range(files):
        size = sizes[i] if i < len(sizes) else rng.randrange(max_size)
        add_file(f"{rng.choice(dirs)}/file{i:05d}.bin".lstrip("/"), _content(rng, size))
    if big_dir:
        add_dir("big")
        for i in range(big_dir):
            add_file(f"big/entry-{i:06d}-{rng.randrange(10**6)}.dat", rng.randbytes(rng.randrange(40)))
    return tree


# -- oracle views ------------------------------------------------------------------------------
def libfsntfs_tree(image: str, offset: int = 0) -> dict[str, tuple]:
    """``{path: (is_dir, size, mtime_posix, sha256 or None)}`` of user files, read by libfsntfs."""
    pyfsntfs = need_module("pyfsntfs")
    vol = pyfsntfs.volume()
    fh = open(image, "rb")
    if offset:
        from io import BytesIO  # small partitions only

        fh.seek(offset)
        fh = BytesIO(fh.read())
    vol.open_file_object(fh)
    out = {}

    def walk(entry, prefix):
        for i in range(entry.number_of_sub_file_entries):
            child = entry.get_sub_file_entry(i)
            if prefix == "" and (child.file_reference & ((1 << 48) - 1)) < 16:
                continue
            path = f"{prefix}/{child.name}"
            is_dir = child.has_directory_entries_index()
            mtime = child.get_modification_time_as_integer()
            digest = None
            if not is_dir:
                digest = hashlib.sha256(child.read() if child.size else b"").hexdigest()
            out[path] = (is_dir, 0 if is_dir else child.size,
                         (mtime - 116444736000000000) / 1e7, digest)
            if is_dir:
                walk(child, path)

    walk(vol.get_root_directory(), "")
    vol.close()
    return out


def diskkit_tree(vol) -> dict[str, tuple]:
    """The same view through ``NtfsVolume``."""
    out = {}
    for dpath, dirs, files in vol.walk("/"):
        base = dpath.rstrip("/")
        for d in dirs:
            out[f"{base}/{d.name}"] = (True, 0, d.modified, None)
        for f in files:
            path = f"{base}/{f.name}"
            h = hashlib.sha256()
            for chunk in vol.iter_read(path):
                h.update(chunk)
            out[path] = (False, f.size, f.modified, h.hexdigest())
    return out


# -- whole disks -------------------------------------------------------------------------------
def leftover_disk(path: str, tree: str, ntfs_size: int = 40 * MiB, fat_size: int = 16 * MiB,
                  seed: int = 5) -> dict:
    """A GPT disk: an ESP (FAT16, a kept file and a deleted 6 MiB random one) and an NTFS
    (the host ``tree`` applied by wimapply, free clusters full of random bytes). Returns the
    partitions' offsets and sizes."""
    from diskkit import fat, part
    from diskkit.blockdev import FileDevice

    volume = quick_formatted(path + ".ntfs", ntfs_size, seed)
    apply_tree(volume, tree)
    size = 2 * MiB + fat_size + ntfs_size
    with open(path, "wb") as fh:
        fh.truncate(size)
    with FileDevice(path, writable=True) as dev:
        part.init_gpt(dev)
        esp = part.add_partition(dev, "esp", fat_size)
        win = part.add_partition(dev, "basic-data", ntfs_size)
        vol = part.partition_device(dev, esp.index)
        fat.mkfs(vol, fat_type=16, label="ESP")
        with fat.FatFS(vol) as fs:
            fs.write_file("/KEEP.BIN", b"k" * 300000)
            fs.write_file("/GONE.BIN", random.Random(seed).randbytes(6 * MiB))
        with fat.FatFS(vol) as fs:
            fs.remove("/GONE.BIN")
        with open(volume, "rb") as src:
            for pos in range(0, ntfs_size, 4 * MiB):
                dev.write_at(win.start + pos, src.read(4 * MiB))
    os.unlink(volume)
    return {"esp": (esp.start, esp.size), "ntfs": (win.start, win.size)}


def hibernate(image, start: int, size: int, work) -> None:
    """Make the NTFS at byte ``start`` of the raw ``image`` look like a hibernated Windows (a
    hiberfil.sys that starts with "HIBR", put in by ntfs-3g's ntfscp), in place."""
    need_tool("ntfscp")
    volume, hiber = os.path.join(work, "hibernate.ntfs"), os.path.join(work, "hiberfil.sys")
    with open(image, "rb") as src, open(volume, "wb") as dst:
        src.seek(start)
        dst.write(src.read(size))
    with open(hiber, "wb") as fh:
        fh.write(b"HIBR" + bytes(8188))
    run("ntfscp", volume, hiber, "/hiberfil.sys")
    with open(volume, "rb") as src, open(image, "r+b") as dst:
        dst.seek(start)
        dst.write(src.read())
