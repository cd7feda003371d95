"""Start-up of the short metadata commands against the C tools and a bare interpreter.

    python3 -m benchmarks.bench_startup [--quick] [--rounds N] [--dir /var/tmp]

These jobs take milliseconds, so give them more rounds than the default for a steadier median
(``python3 -m benchmarks.run_all --only startup --rounds 15``).

A 64 MiB dynamic VHD with a GPT and a FAT32 ESP (and a raw copy for sgdisk). ``diskkit vhd
info`` and ``diskkit info`` next to ``qemu-img info``, ``diskkit part show`` next to ``sgdisk
-p``. These jobs take milliseconds: the goal is the peer's time plus the interpreter's start-up
plus 50 ms (issue 18), and ``vhd info`` at most 3x ``python3 -c pass`` (issue 11); the notes
give each command's multiple of the bare interpreter. Timing rules: benchmarks/harness.py.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.harness import MiB, Bench, Side, diskkit, main, median, need


def make_image(path: str) -> None:
    from diskkit import fat, part, vhd
    from diskkit.image import open_image, open_volume

    vhd.create(path, 64 * MiB, "dynamic")
    with open_image(path, writable=True) as dev:
        part.init_gpt(dev)
        part.add_partition(dev, "esp", "rest")
    with open_volume(path, part=1, writable=True) as esp:
        fat.mkfs(esp, label="ESP")


def benchmark(bench: Bench) -> None:
    missing = need("qemu-img", "sgdisk")
    if missing:
        return bench.skip(f"{', '.join(missing)} not installed")
    image, raw = bench.path("disk.vhd"), bench.path("disk.img")
    make_image(image)
    subprocess.run(["qemu-img", "convert", "-f", "vpc", "-O", "raw", image, raw], check=True)
    jobs = [("vhd info", diskkit("vhd", "info", image), ["qemu-img", "info", image]),
            ("part show", diskkit("part", "show", image), ["sgdisk", "-p", raw]),
            ("info", diskkit("info", image), ["qemu-img", "info", image])]
    for name, ours, theirs in jobs:
        row = bench.compare(f"`{name}` (64 MiB dynamic VHD, GPT, FAT32 ESP)",
                            Side("diskkit", [ours]), Side(" ".join(theirs[:2]), [theirs]))
        cpu = median(row.ours, "cpu") - median(row.python, "cpu")
        bench.note(f"`diskkit {name}`: {median(row.ours) / median(row.python):.2f}x "
                   f"`python3 -c pass` (+{row.over_python * 1000:.0f} ms; CPU "
                   f"+{cpu * 1000:.0f} ms, the steadier figure on a busy machine)")


if __name__ == "__main__":
    sys.exit(main(benchmark, __doc__))
