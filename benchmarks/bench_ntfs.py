"""NTFS reading against ntfs-3g's ntfsls, ntfscat and ntfsinfo, whole process, same run.

    python3 -m benchmarks.bench_ntfs [--quick] [--rounds N] [--dir /var/tmp]

Workload (the NTFS issue's): a volume written by wimapply holding 20,000 small files in 40
directories and one 1 GiB file. Jobs: list the whole tree with sizes and times (``ntfsls -R
-l`` / ``diskkit ntfs ls -r -l``), read the 1 GiB file (``ntfscat`` / ``diskkit ntfs cat``,
both to /dev/null; the bytes are compared once, outside the timing), and the volume summary
(``ntfsinfo -m`` / ``diskkit ntfs info``). Goal (issue 13): within 3x, peak memory under
200 MiB. Timing rules: benchmarks/harness.py.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys

from benchmarks.harness import (ENV, GiB, MiB, Bench, BenchError, Goal, Side, diskkit, main,
                                need, size_text)
from benchmarks.ntfscraft import apply_tree, mkntfs

GOAL = Goal(3.0)


def make_tree(root: str, files: int, big: int) -> None:
    rng = random.Random(13)
    for i in range(files):
        folder = os.path.join(root, f"dir{i % 40:02d}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"file {i:05d}.dat"), "wb") as fh:
            fh.write(rng.randbytes(rng.randint(0, 3000)))
    block = rng.randbytes(4 * MiB)
    with open(os.path.join(root, "big.bin"), "wb") as fh:
        for _ in range(big // len(block)):
            fh.write(block)


def digest(argv: list[str]) -> str:
    proc = subprocess.run(argv, env=ENV, capture_output=True)
    if proc.returncode:
        raise BenchError(f"{argv[0]} failed: {proc.stderr.decode(errors='replace')[:300]}")
    return hashlib.sha256(proc.stdout).hexdigest()


def listed(argv: list[str], recursive_header: bool) -> int:
    """How many entries a listing shows (ntfsls also prints '.', '..' and directory headers)."""
    out = subprocess.run(argv, env=ENV, capture_output=True, text=True).stdout.splitlines()
    if recursive_header:
        out = [line for line in out if line and not line.endswith(":")
               and not line.endswith((" .", " .."))]
    return len(out)


def benchmark(bench: Bench) -> None:
    missing = need("mkntfs", "wimcapture", "wimapply", "ntfsls", "ntfscat", "ntfsinfo")
    if missing:
        return bench.skip(f"{', '.join(missing)} not installed (Debian: ntfs-3g, wimtools)")
    files, big = bench.scale(20000), bench.scale(GiB)
    src, image = bench.path("src"), bench.path("ntfs.img")
    make_tree(src, files, big)
    mkntfs(image, big + 512 * MiB)
    apply_tree(image, src)
    shutil.rmtree(src)
    bench.note(f"NTFS image: {files:,} files in 40 directories and one {size_text(big)} file, "
               "written by wimapply into a 4 KiB-cluster mkntfs volume.")

    def same_listing() -> str:
        ours = listed(diskkit("ntfs", "ls", "-r", "-l", image), False)
        theirs = listed(["ntfsls", "-R", "-l", image], True)
        if ours != theirs:
            raise BenchError(f"diskkit lists {ours} entries, ntfsls {theirs}")
        return f"{ours:,} entries, as ntfsls"

    def same_bytes() -> str:
        if digest(diskkit("ntfs", "cat", image, "/big.bin")) != \
                digest(["ntfscat", image, "/big.bin"]):
            raise BenchError("diskkit ntfs cat and ntfscat give different bytes")
        return "same bytes as ntfscat"

    bench.compare(f"list {files:,} files (ls -r -l)",
                  Side("diskkit", [diskkit("ntfs", "ls", "-r", "-l", image)]),
                  Side("ntfsls -R -l", [["ntfsls", "-R", "-l", image]]), GOAL, same_listing)
    bench.compare(f"read a {size_text(big)} file",
                  Side("diskkit", [diskkit("ntfs", "cat", image, "/big.bin")]),
                  Side("ntfscat", [["ntfscat", image, "/big.bin"]]), GOAL, same_bytes)
    bench.compare("volume summary (info)", Side("diskkit", [diskkit("ntfs", "info", image)]),
                  Side("ntfsinfo -m", [["ntfsinfo", "-m", image]]), GOAL)


if __name__ == "__main__":
    sys.exit(main(benchmark, __doc__))
