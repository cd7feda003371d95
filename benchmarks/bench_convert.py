"""convert against ``qemu-img convert``, whole process, in the same run, printed as ratios.

    python3 -m benchmarks.bench_convert [--quick] [--rounds N] [--dir /var/tmp]

Cases: a 1 GiB dense image, an 8 GiB sparse image holding 256 MiB, and a 4 GiB image
holding 1 GiB, each raw -> dynamic VHD -> raw and raw -> fixed VHD -> raw (the
reflink-or-write path). The VHD inputs of the "-> raw" steps are made by qemu-img, so both
tools read the same file. Outputs are checked with ``qemu-img compare`` against the source.
Then ``convert --skip-free`` of an NTFS volume whose free clusters hold deleted data (a quick
mkntfs over random bytes, a quarter filled by wimapply) against ``qemu-img convert``, which
copies the leftovers: time and output size, our output checked by ntfsfix -n and ntfscat.
Timing rules: benchmarks/harness.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from benchmarks import ntfscraft
from benchmarks.harness import GiB, MiB, Bench, Side, allocated, check_output, diskkit, main, \
    need, remover, same_image, size_text, sparse_source

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

    leftovers(bench)


def leftovers(bench: Bench) -> None:
    """convert --skip-free against qemu-img convert on a volume full of deleted data."""
    if need("mkntfs", "wimcapture", "wimapply", "ntfscat", "ntfsfix"):
        return bench.note("skip-free case skipped: ntfs-3g or wimtools not installed")
    size = bench.scale(GiB)
    volume = ntfscraft.quick_formatted(bench.path("leftovers.raw"), size, seed=1)
    files = {}
    with tempfile.TemporaryDirectory(dir=bench.workdir) as tree:
        for i in range(size // 4 // (4 * MiB)):
            files[f"/f{i:04d}.bin"] = data = os.urandom(4 * MiB)
            with open(os.path.join(tree, f"f{i:04d}.bin"), "wb") as fh:
                fh.write(data)
        ntfscraft.apply_tree(volume, tree)
    ours, theirs = bench.path("ours.slim.vhd"), bench.path("qemu.slim.vhd")
    view = bench.path("ours.slim.raw")

    def verify() -> str:
        subprocess.run(qemu_convert(ours, "dynamic", view, "raw"), check=True)
        check_output(["ntfsfix", "-n", view], "ntfsfix -n")
        for path in list(files)[::max(1, len(files) // 8)]:
            got = subprocess.run(["ntfscat", view, path], capture_output=True, check=True)
            if got.stdout != files[path]:
                raise RuntimeError(f"{path} differs after convert --skip-free")
        os.unlink(view)
        return (f"output {allocated(ours) / MiB:.0f} MiB (skip-free) vs {allocated(theirs) / MiB:.0f}"
                f" MiB (qemu-img); ntfsfix -n clean, files equal (ntfscat)")

    bench.compare(
        f"convert --skip-free {size_text(size)} NTFS, a quarter used, deleted data in the rest "
        "→ dynamic VHD",
        Side("diskkit", [diskkit("convert", "--skip-free", volume, ours, "--to", "dynamic",
                                 "--force")], [ours], remover(ours)),
        Side("qemu-img convert", [qemu_convert(volume, "raw", theirs, "dynamic")], [theirs],
             remover(theirs)),
        verify=verify)
    remover(ours, theirs, volume)()


if __name__ == "__main__":
    sys.exit(main(benchmark, __doc__))
