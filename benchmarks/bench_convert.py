"""convert against ``qemu-img convert``, whole process, in the same run, printed as ratios.

    python3 -m benchmarks.bench_convert [--quick] [--rounds N] [--dir /var/tmp]

Cases: a 1 GiB dense image, an 8 GiB sparse image holding 256 MiB, and a 4 GiB image
holding 1 GiB, each raw -> dynamic VHD -> raw and raw -> fixed VHD -> raw (the
copy_file_range path). The VHD inputs of the "-> raw" steps are made by qemu-img, so both
tools read the same file. Outputs are checked with ``qemu-img compare`` against the source.
Timing rules: benchmarks/harness.py.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.harness import GiB, MiB, Bench, Side, diskkit, main, need, remover, \
    same_image, size_text, sparse_source

FMT = {"raw": "raw", "fixed": "vpc", "dynamic": "vpc"}
NAME = {"raw": "raw", "fixed": "fixed VHD", "dynamic": "dynamic VHD"}
STEPS = [("raw", "dynamic"), ("dynamic", "raw"), ("raw", "fixed"), ("fixed", "raw")]


def qemu_convert(src: str, src_kind: str, dst: str, to: str) -> list[str]:
    opts = ["-o", f"subformat={to},force_size=on"] if to != "raw" else []
    return ["qemu-img", "convert", "-f", FMT[src_kind], "-O", FMT[to], *opts, src, dst]


def benchmark(bench: Bench) -> None:
    if need("qemu-img"):
        return bench.skip("qemu-img not installed")
    for size, data in ((GiB, GiB), (8 * GiB, 256 * MiB), (4 * GiB, GiB)):
        size, data = bench.scale(size), bench.scale(data)
        title = (f"{size_text(size)} dense" if size == data else
                 f"{size_text(size)} sparse ({size_text(data)} data)")
        raw = sparse_source(bench.path("source.raw"), size, data)
        inputs = {"raw": raw}
        for kind in ("dynamic", "fixed"):
            inputs[kind] = bench.path(f"source.{kind}.vhd")
            subprocess.run(qemu_convert(raw, "raw", inputs[kind], kind), check=True)
        for src_kind, to in STEPS:
            ours, theirs = bench.path(f"ours.{to}"), bench.path(f"qemu.{to}")
            bench.compare(
                f"convert {title} {NAME[src_kind]} → {NAME[to]}",
                Side("diskkit", [diskkit("convert", inputs[src_kind], ours, "--to", to,
                                         "--force")], [ours], remover(ours)),
                Side("qemu-img convert", [qemu_convert(inputs[src_kind], src_kind, theirs, to)],
                     [theirs], remover(theirs)),
                verify=lambda: same_image(raw, ours, FMT[to], theirs))
            remover(ours, theirs)()
        remover(*inputs.values())()


if __name__ == "__main__":
    sys.exit(main(benchmark, __doc__))
