"""FAT speed in one run: diskkit vs mkfs.fat + mcopy, and vs pyfatfs (the pure-Python peer).

Workload (as in the FAT issue): a 512 MiB FAT32 image, mkfs, then a recursive copy-in of one
200 MiB file and 2,000 small files. Every tool runs as its own process, so each ratio includes
interpreter start-up. pyfatfs runs on a tenth of the workload (it is ~100x slower) and is
compared with mcopy on that same tenth. Peak RSS of the diskkit process is printed as well.
Every step ends with ``sync`` so page-cache write-back is charged to whoever caused it
(diskkit fsyncs the image when a command completes; mtools leaves that to the kernel).

    python3 benchmarks/bench_fat.py [--scale 1.0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

MiB = 1024 * 1024
ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C.UTF-8")
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


def make_tree(root: str, big_mib: int, small_files: int) -> int:
    """One big file plus many small ones in 20 directories; returns total bytes."""
    rnd = random.Random(42)
    os.makedirs(root)
    total = 0
    with open(os.path.join(root, "big.bin"), "wb") as fh:
        block = rnd.randbytes(4 * MiB)
        for _ in range(big_mib // 4):
            fh.write(block)
            total += len(block)
    for i in range(small_files):
        d = os.path.join(root, f"dir{i % 20:02d}")
        os.makedirs(d, exist_ok=True)
        data = rnd.randbytes(rnd.randint(100, 8000))
        with open(os.path.join(d, f"small file {i:04d}.txt"), "wb") as fh:
            fh.write(data)
        total += len(data)
    return total


def timed(*cmds) -> tuple[float, int]:
    """Wall time of running ``cmds`` then ``sync``, and the largest child's peak RSS (KiB)."""
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    peak = 0
    for cmd in (*cmds, ["sync"]):
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            sys.exit(f"{cmd[0]} failed: {proc.stderr.read().decode()}")
        peak = max(peak, usage.ru_maxrss)
    return time.perf_counter() - start, peak


def fresh(path: str, size: int) -> str:
    if os.path.exists(path):
        os.unlink(path)
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="shrink the workload (e.g. 0.1)")
    ap.add_argument("--no-pyfatfs", action="store_true")
    ap.add_argument("--keep", help="keep work files in this directory")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="bench_fat_")
    os.makedirs(work, exist_ok=True)
    diskkit = [sys.executable, "-m", "diskkit", "--quiet"]
    try:
        size = 512 * MiB
        src = os.path.join(work, "src")
        if os.path.exists(src):
            shutil.rmtree(src)
        total = make_tree(src, int(200 * args.scale), int(2000 * args.scale))
        img = os.path.join(work, "fat.img")
        print(f"workload: {total / MiB:.1f} MiB in {int(2000 * args.scale) + 1} files, "
              f"{size // MiB} MiB FAT32 image")

        ref_mkfs, _ = timed(["mkfs.fat", "-F", "32", fresh(img, size)])
        ref_copy, _ = timed(["mcopy", "-i", img, "-s", "-m", src, "::/"])
        dk_mkfs, _ = timed([*diskkit, "fat", "mkfs", fresh(img, size), "--fat", "32"])
        dk_copy, peak = timed([*diskkit, "fat", "put", "-r", img, src, "/"])
        subprocess.run(["fsck.fat", "-n", img], check=True, capture_output=True)
        ref, dk = ref_mkfs + ref_copy, dk_mkfs + dk_copy
        print(f"mkfs.fat:        {ref_mkfs:7.3f} s   diskkit fat mkfs: {dk_mkfs:7.3f} s   "
              f"ratio {dk_mkfs / ref_mkfs:5.2f}x")
        print(f"mcopy -s:        {ref_copy:7.3f} s   diskkit fat put:  {dk_copy:7.3f} s   "
              f"ratio {dk_copy / ref_copy:5.2f}x")
        print(f"mkfs+copy total: {ref:7.3f} s   diskkit:          {dk:7.3f} s   "
              f"ratio {dk / ref:5.2f}x  (target <= 2x)")
        print(f"diskkit peak RSS during put: {peak / 1024:.0f} MiB (target < 200 MiB)")

        if not args.no_pyfatfs:
            small = os.path.join(work, "small")
            if os.path.exists(small):
                shutil.rmtree(small)
            make_tree(small, max(4, int(20 * args.scale)), int(200 * args.scale))
            timed(["mkfs.fat", "-F", "32", fresh(img, size)])
            mc, _ = timed(["mcopy", "-i", img, "-s", "-m", small, "::/"])
            timed([*diskkit, "fat", "mkfs", fresh(img, size), "--fat", "32"])
            dk_small, _ = timed([*diskkit, "fat", "put", "-r", img, small, "/"])
            timed(["mkfs.fat", "-F", "32", fresh(img, size)])
            pf, _ = timed([sys.executable, "-c", PYFATFS_COPY, img, small])
            print(f"tenth workload:  mcopy {mc:.3f} s, diskkit {dk_small:.3f} s, pyfatfs {pf:.3f} s "
                  f"-> pyfatfs/mcopy {pf / mc:.1f}x, diskkit/mcopy {dk_small / mc:.2f}x, "
                  f"pyfatfs/diskkit {pf / dk_small:.1f}x")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
