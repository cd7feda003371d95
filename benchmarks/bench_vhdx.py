"""VHDX convert against ``qemu-img convert``, whole process, in the same run, printed as ratios.

    python3 -m benchmarks.bench_vhdx [--quick] [--rounds N] [--dir /var/tmp]

Cases: a 1 GiB dense image and an 8 GiB sparse image holding 256 MiB, each raw -> VHDX
(dynamic, 32 MiB blocks), VHDX -> raw and VHDX -> dynamic VHD; the VHDX input of the last
two is made by qemu-img, so both tools read the same foreign file. Outputs are checked with
``qemu-img compare`` against the source. Goal (issue 17): within 1.5x of qemu-img, peak
memory under 200 MiB. Timing rules: benchmarks/harness.py.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.harness import GiB, MiB, Bench, Goal, Side, diskkit, main, need, remover, \
    same_image, size_text, sparse_source

QEMU_FMT = {"raw": "raw", "vhdx": "vhdx", "dynamic": "vpc"}
QEMU_OPTS = {"vhdx": ["-o", "subformat=dynamic,block_size=32M"],
             "dynamic": ["-o", "subformat=dynamic,force_size=on"], "raw": []}
GOAL = Goal(1.5)


def benchmark(bench: Bench) -> None:
    if need("qemu-img"):
        return bench.skip("qemu-img not installed")
    for label, size, data in (("dense", bench.scale(GiB), bench.scale(GiB)),
                              ("sparse", bench.scale(8 * GiB), bench.scale(256 * MiB))):
        title = (f"{size_text(size)} dense" if size == data else
                 f"{size_text(size)} sparse ({size_text(data)} data)")
        raw = sparse_source(bench.path(f"{label}.raw"), size, data)
        vhdx = bench.path(f"{label}.vhdx")
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vhdx", *QEMU_OPTS["vhdx"],
                        raw, vhdx], check=True)
        inputs = {"raw": raw, "vhdx": vhdx}
        for src_kind, to in (("raw", "vhdx"), ("vhdx", "raw"), ("vhdx", "dynamic")):
            source = inputs[src_kind]
            ours, theirs = bench.path(f"ours.{to}"), bench.path(f"qemu.{to}")
            bench.compare(
                f"convert {title} {src_kind} → {'dynamic VHD' if to == 'dynamic' else to}",
                Side("diskkit", [diskkit("convert", source, ours, "--to", to, "--force")],
                     [ours], remover(ours)),
                Side("qemu-img convert",
                     [["qemu-img", "convert", "-f", QEMU_FMT[src_kind], "-O", QEMU_FMT[to],
                       *QEMU_OPTS[to], source, theirs]], [theirs], remover(theirs)),
                GOAL, lambda: same_image(raw, ours, QEMU_FMT[to], theirs))
            remover(ours, theirs)()
        remover(raw, vhdx)()
    bench.note("VHDX outputs are dynamic with 32 MiB blocks (Hyper-V's default) on both sides.")


if __name__ == "__main__":
    sys.exit(main(benchmark, __doc__))
