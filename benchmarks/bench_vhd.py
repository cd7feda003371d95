"""VHD create and dynamic-VHD record I/O against qemu-img and qemu-io, whole process, same run.

    python3 -m benchmarks.bench_vhd [--quick] [--rounds N] [--dir /var/tmp]

1. ``vhd create`` of a 64 GiB fixed and a 64 GiB dynamic VHD next to ``qemu-img create``
   (the checked column shows both files' allocation: a sparse create allocates almost nothing);
2. 1 GiB of 64 KiB records written at shuffled offsets into a new dynamic VHD, then read back
   in 4 MiB pieces: a script on diskkit's Python API next to ``qemu-io`` running the same
   writes and reads (each record filled with the same byte on both sides, so the two images
   must compare identical). qemu-io runs with ``-t unsafe``: its VHD driver otherwise flushes
   at every block it allocates, while diskkit (and the harness, for both) flushes once at the
   end. Timing rules: benchmarks/harness.py.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

from benchmarks.harness import GiB, MiB, PYTHON, Bench, BenchError, Side, allocated, check_output, diskkit, \
    main, median, need, remover, size_text

RECORD = 64 * 1024
WRITE_RECORDS = rf"""
import sys
from diskkit.image import open_image
path, offsets = sys.argv[1], [int(x) for x in open(sys.argv[2]).read().split()]
with open_image(path, writable=True) as dev:
    for i, off in enumerate(offsets):
        dev.write_at(off, bytes([i % 255 + 1]) * {RECORD})
"""
READ_BACK = r"""
import sys
from diskkit.image import open_image
with open_image(sys.argv[1]) as dev:
    for off in range(0, dev.size, 4 << 20):
        dev.read_at(off, min(4 << 20, dev.size - off))
"""


def same_size(path: str, size: int) -> str:
    """qemu-img reads the image as a VHD of ``size`` bytes."""
    out = subprocess.run(["qemu-img", "info", "--output", "json", "-f", "vpc", path],
                         capture_output=True, text=True, check=True).stdout
    if json.loads(out)["virtual-size"] != size:
        raise BenchError(f"qemu-img info: {path} is not {size} bytes: {out}")
    return f"qemu-img info: {size_text(size)}"


def benchmark(bench: Bench) -> None:
    if need("qemu-img", "qemu-io"):
        return bench.skip("qemu-img or qemu-io not installed")
    ours, theirs = bench.path("ours.vhd"), bench.path("qemu.vhd")
    for kind in ("fixed", "dynamic"):
        row = bench.compare(
            f"vhd create 64 GiB {kind}",
            Side("diskkit", [diskkit("vhd", "create", ours, "--size", "64G", "--type", kind)],
                 [ours], remover(ours)),
            Side("qemu-img create", [["qemu-img", "create", "-q", "-f", "vpc", "-o",
                                      f"subformat={kind},force_size=on", theirs, "64G"]],
                 [theirs], remover(theirs)),
            verify=lambda: same_size(ours, 64 * GiB) +
            f"; allocated {allocated(ours) // 1024} / {allocated(theirs) // 1024} KiB")
        cpu = median(row.ours, "cpu") - median(row.python, "cpu")
        bench.note(f"`vhd create` {kind}: +{row.over_python * 1000:.0f} ms over `python3 -c pass` "
                   f"(CPU +{cpu * 1000:.0f} ms)")

    data = bench.scale(GiB)
    offsets = list(range(0, data, RECORD))
    random.Random(1).shuffle(offsets)
    offsets_file = bench.path("offsets.txt")
    with open(offsets_file, "w") as fh:
        fh.write(" ".join(map(str, offsets)))

    def new_dynamic(path: str):
        return lambda: (remover(path)(), check_output(
            ["qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=dynamic,force_size=on",
             path, str(data)], "qemu-img create"))

    same = (lambda: check_output(["qemu-img", "compare", "-q", "-f", "vpc", "-F", "vpc", ours,
                                  theirs], "identical (qemu-img compare)"))
    bench.compare(
        f"{size_text(data)} of 64 KiB records, random order, into a dynamic VHD",
        Side("diskkit API", [[PYTHON, "-c", WRITE_RECORDS, ours, offsets_file]],
             [ours], new_dynamic(ours)),
        Side("qemu-io", [["qemu-io", "-t", "unsafe", "-f", "vpc", theirs] + [
            a for i, off in enumerate(offsets)
            for a in ("-c", f"write -P {i % 255 + 1} {off} {RECORD}")]], [theirs],
            new_dynamic(theirs)),
        verify=same)
    bench.compare(
        f"read {size_text(data)} back in 4 MiB pieces",
        Side("diskkit API", [[PYTHON, "-c", READ_BACK, ours]]),
        Side("qemu-io", [["qemu-io", "-t", "unsafe", "-f", "vpc", "-r", theirs] + [
            a for off in range(0, data, 4 * MiB)
            for a in ("-c", f"read {off} {min(4 * MiB, data - off)}")]]),
        verify=same)


if __name__ == "__main__":
    sys.exit(main(benchmark, __doc__))
