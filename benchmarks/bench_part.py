"""`diskkit resize` of a fixed VHD with GPT against what users do today, whole process, same run.

    python3 -m benchmarks.bench_part [--quick] [--rounds N] [--dir /var/tmp]

A 4 GiB fixed VHD (GPT, 100 MiB ESP, a data partition holding 512 MiB) grown to 8 GiB with
its last partition. Today (qemu-img cannot resize a VHD): qemu-img convert to raw, truncate,
``sgdisk -e`` to move the backup GPT, ``sgdisk -d/-n`` to grow the last partition, convert
back to a fixed VHD. diskkit: ``diskkit resize IMAGE --size 8G --grow-part 2`` in place. Both
results are checked with ``sgdisk -v`` and must show the same partition layout. Timing rules:
benchmarks/harness.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.harness import GiB, MiB, Bench, BenchError, Side, diskkit, main, need, \
    remover, size_text


def sh(*cmd) -> str:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True,
                          text=True).stdout


def make_source(path: str, size: int, data: int) -> None:
    """Fixed VHD: GPT, 100 MiB ESP, a data partition with ``data`` bytes written into it."""
    from diskkit import part, vhd
    from diskkit.image import open_image

    vhd.create(path, size, "fixed")
    with open_image(path, writable=True) as dev:
        part.init_gpt(dev)
        part.add_partition(dev, "esp", 100 * MiB)
        data_part = part.add_partition(dev, "windows", None)
        block = os.urandom(4 * MiB)
        view = part.partition_device(dev, data_part.index)
        for offset in range(0, data, len(block)):
            view.write_at(offset, block[:min(len(block), data - offset)])


def layout(vhd_path: str, raw: str) -> list:
    """``sgdisk -v`` must be clean; the partition lines of ``sgdisk -p``."""
    sh("qemu-img", "convert", "-f", "vpc", "-O", "raw", vhd_path, raw)
    try:
        if "No problems found" not in sh("sgdisk", "-v", raw):
            raise BenchError(f"sgdisk -v finds problems in {vhd_path}")
        return [line.split()[:3] for line in sh("sgdisk", "-p", raw).splitlines()
                if line.strip()[:1].isdigit()]
    finally:
        os.unlink(raw)


def benchmark(bench: Bench) -> None:
    missing = need("qemu-img", "sgdisk")
    if missing:
        return bench.skip(f"{', '.join(missing)} not installed")
    size, data = bench.scale(4 * GiB), bench.scale(512 * MiB)
    source = bench.path("source.vhd")
    make_source(source, size, data)
    ours, theirs = bench.path("ours.vhd"), bench.path("theirs.vhd")
    raw, out = bench.path("tmp.raw"), bench.path("out.vhd")
    sh("qemu-img", "convert", "-f", "vpc", "-O", "raw", source, raw)
    first = sh("sgdisk", "-i", "2", raw).split("First sector: ")[1].split()[0]
    os.unlink(raw)

    def fresh(path: str):
        return lambda: (remover(path, raw, out)(),
                        sh("cp", "--sparse=always", source, path))

    def same_layout() -> str:
        if layout(ours, raw) != layout(theirs, raw):
            raise BenchError("diskkit and sgdisk leave different partition layouts")
        return "sgdisk -v clean, same layout both ways"

    bench.compare(
        f"resize fixed VHD {size_text(size)} → {size_text(2 * size)}, grow last partition",
        Side("diskkit", [diskkit("resize", ours, "--size", str(2 * size), "--grow-part", "2")],
             [ours], fresh(ours)),
        Side("qemu-img + truncate + sgdisk", [
            ["qemu-img", "convert", "-f", "vpc", "-O", "raw", theirs, raw],
            ["truncate", "-s", str(2 * size), raw],
            ["sgdisk", "-e", raw],
            ["sgdisk", "-d", "2", "-n", f"2:{first}:0", "-t", "2:0700", raw],
            ["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o",
             "subformat=fixed,force_size=on", raw, out],
            ["mv", out, theirs], ["rm", raw]], [theirs], fresh(theirs)),
        verify=same_layout)
    bench.note(f"The source holds {size_text(data)} of data; diskkit grows the file in place, the "
               "usual way needs a temporary raw copy as large as the disk.")


if __name__ == "__main__":
    sys.exit(main(benchmark, __doc__))
