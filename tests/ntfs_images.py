"""NTFS volumes for tests, made only by other people's tools, and the oracles' view of them.

- ``mkntfs`` (ntfs-3g) formats a plain file; ``apply_tree`` puts a host tree in with wimlib
  (wimcapture + wimapply, which writes NTFS through libntfs-3g without mounting).
- ``mounted`` mounts with the ntfs-3g FUSE driver for what only a live filesystem makes:
  LZNT1-compressed files, alternate data streams, hard links, DOS names, fragmented files with
  attribute lists, CompactOS files (a WOF reparse point plus a WofCompressedData stream whose
  chunks wimlib's own XPRESS/LZX compressors produce). Tests needing it skip without FUSE.
- ``libfsntfs_tree`` reads a volume with libfsntfs (pyfsntfs) into ``{path: (is_dir, size,
  mtime, sha256)}``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import random
import struct
import subprocess
import tempfile

import pytest

from oracles import ENV, need

MiB = 1 << 20


def sh(*cmd, check: bool = True) -> subprocess.CompletedProcess:
    need(str(cmd[0]))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, env=ENV)
    if check and proc.returncode:
        raise AssertionError(f"{cmd} failed ({proc.returncode}): "
                             f"{proc.stderr.decode('utf-8', 'replace')}")
    return proc


def mkntfs(path: str, size: int, cluster: int = 4096, label: str | None = None,
           sector: int = 512) -> str:
    with open(path, "wb") as fh:
        fh.truncate(size)
    args = ["-F", "-q", "-f", "-c", cluster, "-s", sector]
    if label:
        args += ["-L", label]
    sh("mkntfs", *args, path)
    return path


def apply_tree(image: str, src: str) -> None:
    """Write the host tree ``src`` into the NTFS image with wimlib (no mount needed)."""
    with tempfile.TemporaryDirectory() as tmp:
        wim = os.path.join(tmp, "t.wim")
        sh("wimcapture", src, wim, "--compress=none", "--no-acls")
        sh("wimapply", wim, image)


@contextlib.contextmanager
def mounted(image: str):
    """The image mounted read-write through ntfs-3g FUSE; the test skips when FUSE is missing."""
    need("ntfs-3g")
    mnt = tempfile.mkdtemp(prefix="ntfsmnt")
    # streams_interface=windows: alternate data streams open as "file:stream" (no xattr size limit)
    proc = subprocess.run(["ntfs-3g", "-o", "streams_interface=windows", image, mnt],
                          capture_output=True, env=ENV)
    if proc.returncode:
        os.rmdir(mnt)
        pytest.skip(f"ntfs-3g FUSE mount unavailable: {proc.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", mnt], check=True, capture_output=True)
        os.rmdir(mnt)


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


# -- CompactOS files via wimlib's compressors -----------------------------------------------
WOF_ALGORITHMS = {"XPRESS4K": (0, 1, 4096), "LZX": (1, 2, 32768), "XPRESS8K": (2, 1, 8192),
                  "XPRESS16K": (3, 1, 16384)}  # name: (WOF algorithm, wimlib ctype, chunk)


def _wimlib():
    path = ctypes.util.find_library("wim")
    if not path:
        pytest.skip("libwim (wimtools) not installed")
    lib = ctypes.CDLL(path)
    lib.wimlib_compress.restype = ctypes.c_size_t
    return lib


def wof_pack(data: bytes, algorithm: str) -> bytes:
    """The WofCompressedData stream Windows would write: chunk offset table, then chunks
    compressed one by one by wimlib (kept as is where compression does not help)."""
    _, ctype, chunk = WOF_ALGORITHMS[algorithm]
    lib = _wimlib()
    comp = ctypes.c_void_p()
    assert lib.wimlib_create_compressor(ctype, ctypes.c_size_t(chunk), 0, ctypes.byref(comp)) == 0
    packed = []
    try:
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            out = ctypes.create_string_buffer(len(piece))
            n = lib.wimlib_compress(piece, ctypes.c_size_t(len(piece)), out,
                                    ctypes.c_size_t(len(piece) - 1), comp)
            packed.append(out.raw[:n] if n else piece)
    finally:
        lib.wimlib_free_compressor(comp)
    ends, pos = [], 0
    for p in packed[:-1]:
        pos += len(p)
        ends.append(pos)
    fmt = "Q" if len(data) > 0xFFFFFFFF else "I"
    return struct.pack(f"<{len(ends)}{fmt}", *ends) + b"".join(packed)


def make_wof_file(path: str, data: bytes, algorithm: str) -> None:
    """On an ntfs-3g mount: a CompactOS file as Windows' ``compact /exe:ALG`` leaves it."""
    wof_alg = WOF_ALGORITHMS[algorithm][0]
    with open(path, "wb") as fh:
        fh.truncate(len(data))  # the unnamed stream: sparse, with the file's real size
    with open(path + ":WofCompressedData", "wb") as fh:
        fh.write(wof_pack(data, algorithm))
    reparse = struct.pack("<IHH", 0x80000017, 16, 0) + struct.pack("<IIII", 1, 2, 1, wof_alg)
    os.setxattr(path, "system.ntfs_reparse_data", reparse)


def set_attributes(path: str, add: int) -> None:
    """OR FILE_ATTRIBUTE_* bits in through ntfs-3g (0x800: compress what is written after)."""
    value = int.from_bytes(os.getxattr(path, "system.ntfs_attrib_be"), "big") | add
    os.setxattr(path, "system.ntfs_attrib_be", value.to_bytes(4, "big"))


# -- oracle views ------------------------------------------------------------------------------
def libfsntfs_tree(image: str, offset: int = 0) -> dict[str, tuple]:
    """``{path: (is_dir, size, mtime_posix, sha256 or None)}`` of user files, read by libfsntfs."""
    pyfsntfs = pytest.importorskip("pyfsntfs", reason="libfsntfs-python not installed")
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
