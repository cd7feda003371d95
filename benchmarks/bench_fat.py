"""FAT against mkfs.fat + mcopy (and pyfatfs, the pure-Python peer), whole process, same run.

    python3 -m benchmarks.bench_fat [--quick] [--rounds N] [--dir /var/tmp]

Workload (as in the FAT issue): a 512 MiB FAT32 image; mkfs; copying in one 200 MiB file;
copying in a tree of 2,000 small files (100 B - 8 KB, in 20 directories); and all three in
one go, each side with its own mkfs. The copy rows start from the same image, made by
mkfs.fat. mtools leaves write-back to the kernel, so the image's fsync is timed on both
sides (harness.py). Results are checked with ``fsck.fat -n`` and the names mtools lists.
pyfatfs, when installed, copies a tenth of the tree next to diskkit.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import subprocess
import sys

from benchmarks.harness import MiB, PYTHON, Bench, BenchError, Side, check_output, diskkit, main, \
    need

IMAGE_SIZE = 512 * MiB
PYFATFS_COPY = r"""
import os, sys
from pyfatfs.PyFatFS import PyFatFS
img, src = sys.argv[1], sys.argv[2]
fs = PyFatFS(img)
for root, dirs, files in os.walk(src):
    dirs.sort()
    rel = os.path.relpath(root, os.path.dirname(src))
    fs.makedirs("/" + rel, recreate=True)
    for name in sorted(files):
        with open(os.path.join(root, name), "rb") as fh:
            fs.upload("/" + rel + "/" + name, fh)
fs.close()
"""


def make_big(path: str, size: int) -> str:
    block = random.Random(42).randbytes(4 * MiB)
    with open(path, "wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)
    return path


def make_tree(root: str, files: int) -> str:
    """``files`` small files of 100 B - 8 KB in 20 directories, with long names."""
    rnd = random.Random(files)
    for i in range(files):
        d = os.path.join(root, f"dir{i % 20:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"small file {i:04d}.txt"), "wb") as fh:
            fh.write(rnd.randbytes(rnd.randint(100, 8000)))
    return root


def blank(path: str):
    """A ``prepare``: a new sparse file the size of the image."""
    def prepare():
        if os.path.exists(path):
            os.unlink(path)
        with open(path, "wb") as fh:
            fh.truncate(IMAGE_SIZE)
    return prepare


def copy_of(template: str, path: str):
    """A ``prepare``: a fresh copy of the formatted ``template`` (sparse, like the original)."""
    def prepare():
        if os.path.exists(path):
            os.unlink(path)
        subprocess.run(["cp", "--sparse=always", template, path], check=True)
    return prepare


def listing(image: str) -> list[str]:
    out = subprocess.run(["mdir", "-/", "-b", "-i", image, "::/"], capture_output=True,
                         text=True, env=dict(os.environ, MTOOLS_SKIP_CHECK="1"), check=True)
    return sorted(out.stdout.split("\n"))


def fat_check(ours: str, theirs: str | None = None):
    """A ``verify``: fsck.fat -n clean, and the same names as the peer's image."""
    def verify() -> str:
        text = check_output(["fsck.fat", "-n", ours], "fsck.fat -n clean")
        if theirs:
            if listing(ours) != listing(theirs):
                raise BenchError(f"{ours} and {theirs} list different files")
            text += ", same files as mcopy's"
        return text
    return verify


def benchmark(bench: Bench) -> None:
    missing = need("mkfs.fat", "mcopy", "fsck.fat")
    if missing:
        return bench.skip(f"{', '.join(missing)} not installed")
    big = make_big(bench.path("big.bin"), bench.scale(200 * MiB, 10))
    files = bench.scale(2000, 10)
    small = make_tree(bench.path("small"), files)
    ours, theirs, template = bench.path("ours.img"), bench.path("mtools.img"), bench.path("t.img")
    blank(template)()
    subprocess.run(["mkfs.fat", "-F", "32", template], check=True, capture_output=True)
    mkfs_ours, mkfs_peer = diskkit("fat", "mkfs", ours, "--fat", "32"), ["mkfs.fat", "-F", "32",
                                                                           theirs]
    put_big = diskkit("fat", "put", ours, big, "/")
    put_small = diskkit("fat", "put", "-r", ours, small, "/")
    mcopy_big = ["mcopy", "-i", theirs, big, "::/"]
    mcopy_small = ["mcopy", "-i", theirs, "-s", "-m", small, "::/"]
    mib = os.path.getsize(big) / MiB

    bench.compare(f"fat mkfs {IMAGE_SIZE // MiB} MiB FAT32",
                  Side("diskkit", [mkfs_ours], [ours], blank(ours)),
                  Side("mkfs.fat", [mkfs_peer], [theirs], blank(theirs)),
                  verify=fat_check(ours))
    bench.compare(f"fat put one {mib:.0f} MiB file",
                  Side("diskkit", [put_big], [ours], copy_of(template, ours)),
                  Side("mcopy", [mcopy_big], [theirs], copy_of(template, theirs)),
                  verify=fat_check(ours, theirs))
    bench.compare(f"fat put -r {files:,} small files",
                  Side("diskkit", [put_small], [ours], copy_of(template, ours)),
                  Side("mcopy -s", [mcopy_small], [theirs], copy_of(template, theirs)),
                  verify=fat_check(ours, theirs))
    bench.compare("mkfs + put big + put -r small (one run)",
                  Side("diskkit", [mkfs_ours, put_big, put_small], [ours], blank(ours)),
                  Side("mkfs.fat + mcopy", [mkfs_peer, mcopy_big, mcopy_small], [theirs],
                       blank(theirs)),
                  verify=fat_check(ours, theirs))

    if importlib.util.find_spec("pyfatfs") is None:
        bench.note("pyfatfs (the pure-Python peer) is not installed: `pip install -e .[bench]` "
                   "adds its row.")
        return
    tenth = make_tree(bench.path("tenth"), bench.scale(200, 10))
    bench.compare(f"fat put -r {bench.scale(200, 10)} small files (pure-Python peer)",
                  Side("diskkit", [diskkit("fat", "put", "-r", ours, tenth, "/")], [ours],
                       copy_of(template, ours)),
                  Side("pyfatfs", [[PYTHON, "-c", PYFATFS_COPY, theirs, tenth]], [theirs],
                       copy_of(template, theirs)),
                  verify=fat_check(ours), rounds=min(bench.rounds, 3))
    shutil.rmtree(tenth)


if __name__ == "__main__":
    sys.exit(main(benchmark, __doc__))
