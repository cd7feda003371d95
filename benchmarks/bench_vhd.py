"""VHD create and dynamic-VHD I/O against qemu-img, in the same run, printed as ratios.

    python3 benchmarks/bench_vhd.py [--dir /var/tmp] [--data 1G]

1. create a 64 GiB fixed and a 64 GiB dynamic VHD: time next to ``qemu-img create``, and
   apparent vs allocated bytes of both (a sparse create allocates almost nothing);
2. write ``--data`` of random 64 KiB records at shuffled offsets into a dynamic VHD through
   the Python API, then read it back sequentially: MiB/s next to ``qemu-img convert`` moving
   the same data raw -> dynamic VHD and back. Timings include a final ``sync``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from diskkit import vhd  # noqa: E402
from diskkit.image import open_image  # noqa: E402
from diskkit.units import parse_size  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
RECORD = 64 * 1024


def timed(fn) -> float:
    os.sync()
    start = time.perf_counter()
    fn()
    os.sync()
    return time.perf_counter() - start


def sizes(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_blocks * 512


def bench_create(workdir: str) -> None:
    print("create 64 GiB            qemu-img   diskkit  ratio   apparent (qemu / ours)   allocated (qemu / ours)")
    for kind in ("fixed", "dynamic"):
        theirs, ours = os.path.join(workdir, f"q-{kind}.vhd"), os.path.join(workdir, f"o-{kind}.vhd")
        t_q = timed(lambda: subprocess.run(
            ["qemu-img", "create", "-q", "-f", "vpc", "-o", f"subformat={kind},force_size=on",
             theirs, "64G"], check=True))
        t_o = timed(lambda: vhd.create(ours, 64 * GiB, kind))
        (aq, bq), (ao, bo) = sizes(theirs), sizes(ours)
        print(f"  {kind:8}              {t_q * 1000:7.1f}ms {t_o * 1000:7.1f}ms {t_o / t_q:6.2f}   "
              f"{aq:>11} / {ao:<11}   {bq:>9} / {bo:<9}")
        os.unlink(theirs)
        os.unlink(ours)


def bench_records(workdir: str, data: int) -> None:
    path = os.path.join(workdir, "records.vhd")
    vhd.create(path, data, "dynamic")
    offsets = list(range(0, data, RECORD))
    random.Random(1).shuffle(offsets)
    payload = os.urandom(RECORD * 64)

    def write():
        with open_image(path, writable=True) as dev:
            for i, off in enumerate(offsets):
                start = (i % 64) * RECORD
                dev.write_at(off, payload[start:start + RECORD])

    def read():
        with open_image(path) as dev:
            for off in range(0, data, 4 * MiB):
                dev.read_at(off, min(4 * MiB, data - off))

    t_w, t_r = timed(write), timed(read)
    raw = os.path.join(workdir, "records.raw")
    subprocess.run(["qemu-img", "convert", "-f", "vpc", "-O", "raw", path, raw], check=True)
    qvhd = os.path.join(workdir, "q.vhd")
    t_qw = timed(lambda: subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o",
                                         "subformat=dynamic,force_size=on", raw, qvhd], check=True))
    back = os.path.join(workdir, "back.raw")
    t_qr = timed(lambda: subprocess.run(["qemu-img", "convert", "-f", "vpc", "-O", "raw", qvhd,
                                         back], check=True))
    same = subprocess.run(["qemu-img", "compare", "-q", "-f", "vpc", "-F", "raw", path, back]).returncode == 0
    mib = data / MiB
    print(f"\n{mib:.0f} MiB of 64 KiB records    diskkit API      qemu-img convert   ratio (time)")
    print(f"  write (random order)   {mib / t_w:8.1f} MiB/s   {mib / t_qw:8.1f} MiB/s   {t_w / t_qw:6.2f}")
    print(f"  read  (sequential)     {mib / t_r:8.1f} MiB/s   {mib / t_qr:8.1f} MiB/s   {t_r / t_qr:6.2f}")
    print(f"  contents identical (qemu-img compare): {same}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="scratch directory")
    parser.add_argument("--data", default="1G", help="record data to write (default 1G)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as workdir:
        bench_create(workdir)
        bench_records(workdir, parse_size(args.data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
