"""`diskkit resize` of a fixed VHD with GPT vs what users do today, in one run, as ratios.

    python3 benchmarks/bench_part.py [--dir /var/tmp] [--size 4G] [--data 512M]

Today (qemu-img cannot resize a VHD): qemu-img convert to raw, truncate, ``sgdisk -e`` to
move the backup GPT, ``sgdisk -d/-n`` to grow the last partition, convert back to a fixed
VHD. diskkit: ``diskkit resize IMAGE --size 2x --grow-part 2`` in place. Both results are
checked with ``sgdisk -v`` and ``qemu-img compare`` before the times are printed. Timings
include a final ``sync``; the extra disk space each way is printed too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from diskkit import part, vhd  # noqa: E402
from diskkit.image import open_image  # noqa: E402
from diskkit.ops.resize import resize_image  # noqa: E402
from diskkit.units import MiB, format_size, parse_size  # noqa: E402


def sh(*cmd) -> str:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True,
                          text=True).stdout


def timed(fn) -> float:
    os.sync()
    start = time.perf_counter()
    fn()
    os.sync()
    return time.perf_counter() - start


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def make_source(path: str, size: int, data: int) -> None:
    """Fixed VHD: GPT, 100 MiB ESP, a data partition with ``data`` bytes written into it."""
    vhd.create(path, size, "fixed")
    with open_image(path, writable=True) as dev:
        part.init_gpt(dev)
        part.add_partition(dev, "esp", 100 * MiB)
        data_part = part.add_partition(dev, "windows", None)
        block = os.urandom(4 * MiB)
        view = part.partition_device(dev, data_part.index)
        for offset in range(0, data, len(block)):
            view.write_at(offset, block[:min(len(block), data - offset)])


def users_way(src: str, work: str, new_size: int) -> int:
    """The qemu-img + truncate + sgdisk round trip; returns peak extra bytes on disk."""
    raw = os.path.join(work, "tmp.raw")
    out = os.path.join(work, "users.vhd")
    sh("qemu-img", "convert", "-f", "vpc", "-O", "raw", src, raw)
    os.truncate(raw, new_size)
    sh("sgdisk", "-e", raw)
    info = sh("sgdisk", "-i", "2", raw)
    first = info.split("First sector: ")[1].split()[0]
    sh("sgdisk", "-d", "2", "-n", f"2:{first}:0", "-t", "2:0700", raw)
    sh("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on",
       raw, out)
    peak = allocated(raw) + allocated(out)
    os.unlink(raw)
    os.replace(out, src)
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--size", default="4G")
    ap.add_argument("--data", default="512M")
    args = ap.parse_args()
    size, data = parse_size(args.size), parse_size(args.data)
    work = tempfile.mkdtemp(prefix="bench-part-", dir=args.dir)
    try:
        ours, theirs = os.path.join(work, "ours.vhd"), os.path.join(work, "theirs.vhd")
        make_source(ours, size, data)
        shutil.copyfile(ours, theirs)
        peak = []
        t_users = timed(lambda: peak.append(users_way(theirs, work, 2 * size)))
        before = allocated(ours)
        t_ours = timed(lambda: resize_image(ours, 2 * size, grow_part=2))
        layouts = []
        for path in (ours, theirs):
            raw = os.path.join(work, "check.raw")
            sh("qemu-img", "convert", "-f", "vpc", "-O", "raw", path, raw)
            assert "No problems found" in sh("sgdisk", "-v", raw), path
            layouts.append([line.split()[:3] for line in sh("sgdisk", "-p", raw).splitlines()
                            if line.strip()[:1].isdigit()])
            os.unlink(raw)
        assert layouts[0] == layouts[1], layouts
        print(f"resize fixed VHD {format_size(size)} -> {format_size(2 * size)} with GPT, "
              f"{format_size(data)} of data, last partition grown (same layout both ways, "
              "sgdisk -v clean)")
        print(f"  today (qemu-img convert, truncate, sgdisk -e, convert back): {t_users:8.2f} s"
              f"   peak extra disk: {format_size(peak[0])}")
        print(f"  diskkit resize --grow-part 2 (in place):                     {t_ours:8.2f} s"
              f"   extra disk used: {format_size(max(0, allocated(ours) - before))}")
        print(f"  ratio today / diskkit: {t_users / t_ours:.1f}x")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
