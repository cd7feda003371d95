"""Start-up of the short metadata commands, side by side with a bare interpreter and the C tools.

    python3 benchmarks/bench_startup.py [--runs 15]

Whole processes, run in rounds (each round runs every command once, so machine noise falls on
all of them alike): ``python3 -c pass``, ``diskkit vhd info``, ``diskkit part show`` and
``diskkit info`` on a 64 MiB dynamic VHD with a GPT and a FAT32 ESP, and ``qemu-img info`` /
``sgdisk -p`` on the same image. Prints min / median / max per command, the ratio of medians
to the bare interpreter and the difference in milliseconds (the goal: within +50 ms).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from diskkit import fat, part, vhd  # noqa: E402
from diskkit.image import open_image, open_volume  # noqa: E402

MiB = 1 << 20


def make_image(workdir: str) -> tuple[str, str]:
    """A dynamic VHD with a GPT and a FAT32 ESP, and a raw copy for the C tools."""
    image = os.path.join(workdir, "disk.vhd")
    vhd.create(image, 64 * MiB, "dynamic")
    with open_image(image, writable=True) as dev:
        part.init_gpt(dev)
        part.add_partition(dev, "esp", "rest")
    with open_volume(image, part=1, writable=True) as esp:
        fat.mkfs(esp, fat_type=32, label="ESP")
    raw = os.path.join(workdir, "disk.img")
    subprocess.run(["qemu-img", "convert", "-f", "vpc", "-O", "raw", image, raw], check=True)
    return image, raw


def commands(image: str, raw: str) -> list[tuple[str, list[str]]]:
    py = [sys.executable]
    diskkit = [*py, "-m", "diskkit"]
    cmds = [("python3 -c pass", [*py, "-c", "pass"]),
            ("diskkit vhd info", [*diskkit, "vhd", "info", image]),
            ("diskkit part show", [*diskkit, "part", "show", image]),
            ("diskkit info", [*diskkit, "info", image])]
    if shutil.which("qemu-img"):
        cmds.append(("qemu-img info", ["qemu-img", "info", image]))
    if shutil.which("sgdisk"):
        cmds.append(("sgdisk -p (raw)", ["sgdisk", "-p", raw]))
    return cmds


def measure(cmds, runs: int) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=ROOT)
    times: dict[str, list[float]] = {name: [] for name, _ in cmds}
    for _ in range(runs):
        for name, argv in cmds:
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                           check=True)
            times[name].append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        image, raw = make_image(workdir)
        times = measure(commands(image, raw), args.runs)
    base = statistics.median(times["python3 -c pass"])
    print(f"{'command':20} {'min':>8} {'median':>8} {'max':>8}  {'x python':>8} {'+ms':>7}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:20} {min(values) * 1000:7.1f}ms {med * 1000:7.1f}ms "
              f"{max(values) * 1000:7.1f}ms  {med / base:7.2f}x {(med - base) * 1000:+6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
