"""NTFS volumes made only by other people's tools, for tests, fuzz templates and benchmarks.

- ``mkntfs`` (ntfs-3g) formats a plain file; ``apply_tree`` writes a host tree with wimlib
  (wimcapture + wimapply, which goes through libntfs-3g without mounting).
- ``mounted`` mounts with the ntfs-3g FUSE driver (streams opened as ``file:stream``), for what
  only a live filesystem makes: LZNT1-compressed files (``set_attributes(dir, 0x800)``),
  alternate data streams, hard links, DOS names, attribute lists.
- ``make_wof_file`` writes a CompactOS file as Windows' ``compact /exe:ALG`` leaves it: a
  sparse unnamed stream, a WofCompressedData stream whose chunks wimlib's own XPRESS/LZX
  compressors produce (libwim through ctypes), and the WOF reparse point.
Missing tools raise ``Unavailable`` (tests turn it into a skip).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import struct
import subprocess
import tempfile

ENV = dict(os.environ, LC_ALL="C")


class Unavailable(Exception):
    """A tool this needs (mkntfs, wimlib, a FUSE mount) is missing here."""


def sh(*cmd) -> subprocess.CompletedProcess:
    if not shutil.which(str(cmd[0])):
        raise Unavailable(f"{cmd[0]} not installed (Debian: ntfs-3g, wimtools)")
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, env=ENV)
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): "
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


def quick_formatted(path: str, size: int, seed: int, cluster: int = 4096) -> str:
    """An NTFS volume whose free clusters hold non-zero bytes, as deleted files leave them:
    the file is filled with random bytes first and ``mkntfs --fast`` does not zero it."""
    import random

    rng = random.Random(seed)
    with open(path, "wb") as fh:
        for _ in range(size >> 20):
            fh.write(rng.randbytes(1 << 20))
    sh("mkntfs", "-F", "-q", "-f", "-c", cluster, path)
    return path


def apply_tree(image: str, src: str) -> None:
    """Write the host tree ``src`` into the NTFS image with wimlib (no mount needed)."""
    with tempfile.TemporaryDirectory() as tmp:
        wim = os.path.join(tmp, "t.wim")
        sh("wimcapture", src, wim, "--compress=none", "--no-acls")
        sh("wimapply", wim, image)


@contextlib.contextmanager
def mounted(image: str):
    """The image mounted read-write through ntfs-3g FUSE, alternate streams as ``file:name``."""
    if not shutil.which("ntfs-3g"):
        raise Unavailable("ntfs-3g not installed")
    mnt = tempfile.mkdtemp(prefix="ntfsmnt")
    proc = subprocess.run(["ntfs-3g", "-o", "streams_interface=windows", image, mnt],
                          capture_output=True, env=ENV)
    if proc.returncode:
        os.rmdir(mnt)
        raise Unavailable(f"ntfs-3g FUSE mount unavailable: {proc.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", mnt], check=True, capture_output=True)
        os.rmdir(mnt)


def set_attributes(path: str, add: int) -> None:
    """OR FILE_ATTRIBUTE_* bits in on an ntfs-3g mount (0x800 on a directory: what is written
    into it afterwards is compressed)."""
    value = int.from_bytes(os.getxattr(path, "system.ntfs_attrib_be"), "big") | add
    os.setxattr(path, "system.ntfs_attrib_be", value.to_bytes(4, "big"))


# -- CompactOS ---------------------------------------------------------------------------------
WOF_ALGORITHMS = {"XPRESS4K": (0, 1, 4096), "LZX": (1, 2, 32768), "XPRESS8K": (2, 1, 8192),
                  "XPRESS16K": (3, 1, 16384)}  # name: (WOF algorithm, wimlib ctype, chunk)


def _wimlib():
    path = ctypes.util.find_library("wim")
    if not path:
        raise Unavailable("libwim (wimtools) not installed")
    lib = ctypes.CDLL(path)
    lib.wimlib_compress.restype = ctypes.c_size_t
    return lib


def wof_pack(data: bytes, algorithm: str) -> bytes:
    """The WofCompressedData stream: chunk offset table, then each chunk compressed alone by
    wimlib (kept as is where compressing does not make it smaller)."""
    _, ctype, chunk = WOF_ALGORITHMS[algorithm]
    lib = _wimlib()
    comp = ctypes.c_void_p()
    if lib.wimlib_create_compressor(ctype, ctypes.c_size_t(chunk), 0, ctypes.byref(comp)):
        raise Unavailable(f"wimlib has no {algorithm} compressor")
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
    """On an ntfs-3g mount (see ``mounted``): a CompactOS file holding ``data``."""
    wof_alg = WOF_ALGORITHMS[algorithm][0]
    with open(path, "wb") as fh:
        fh.truncate(len(data))  # the unnamed stream: sparse, with the file's real size
    with open(path + ":WofCompressedData", "wb") as fh:
        fh.write(wof_pack(data, algorithm))
    reparse = struct.pack("<IHH", 0x80000017, 16, 0) + struct.pack("<IIII", 1, 2, 1, wof_alg)
    os.setxattr(path, "system.ntfs_reparse_data", reparse)
