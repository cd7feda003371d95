"""convert (and compact) against ``qemu-img convert``, in the same run, printed as ratios.

    python3 benchmarks/bench_convert.py [--dir /var/tmp] [--quick]

Cases: a 1 GiB dense image, an 8 GiB sparse image holding 256 MiB, and a 4 GiB image
holding 1 GiB, each raw -> dynamic -> raw (and raw -> fixed, the copy_file_range path).
Every timing includes a final ``sync`` so page-cache write-back is charged to whoever
caused it (diskkit fsyncs its output; qemu-img does not). Ratios > 1 mean diskkit is slower.
Outputs are checked with ``qemu-img compare`` so a fast wrong answer cannot win.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from diskkit.ops.convert import convert  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
FMT = {"raw": "raw", "fixed": "vpc", "dynamic": "vpc"}


def make_source(path: str, size: int, data: int) -> None:
    """``data`` bytes of random content in 1 MiB runs spread over a sparse file of ``size``."""
    rng = random.Random(size ^ data)
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        fh.truncate(size)
        slots = rng.sample(range(size // MiB), data // MiB) if data < size else range(size // MiB)
        for slot in sorted(slots):
            fh.seek(slot * MiB)
            fh.write(block[: MiB // 2] + os.urandom(MiB // 2))
    os.sync()


def timed(fn, output: str, repeat: int = 2) -> float:
    """Best of ``repeat`` runs, each into a fresh output (replacing a big file costs extra)."""
    best = float("inf")
    for _ in range(repeat):
        if os.path.exists(output):
            os.unlink(output)
        os.sync()
        start = time.perf_counter()
        fn()
        os.sync()
        best = min(best, time.perf_counter() - start)
    return best


def qemu(src: str, src_kind: str, dst: str, to: str) -> None:
    opts = ["-o", f"subformat={to},force_size=on"] if to != "raw" else []
    subprocess.run(["qemu-img", "convert", "-f", FMT[src_kind], "-O", FMT[to], *opts, src, dst],
                   check=True)


def ours_cli(src: str, dst: str, to: str) -> None:
    subprocess.run([sys.executable, "-m", "diskkit", "-q", "convert", src, dst, "--to", to,
                    "--force"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def bench_case(workdir: str, label: str, size: int, data: int) -> list[tuple]:
    src = os.path.join(workdir, f"{label}.raw")
    make_source(src, size, data)
    rows = []
    steps = [("raw", "dynamic"), ("dynamic", "raw"), ("raw", "fixed"), ("fixed", "raw")]
    inputs = {"raw": src}
    for src_kind, to in steps:
        source = inputs[src_kind]
        ours = os.path.join(workdir, f"{label}-ours.{src_kind}-{to}")
        theirs = os.path.join(workdir, f"{label}-qemu.{src_kind}-{to}")
        t_q = timed(lambda: qemu(source, src_kind, theirs, to), theirs)
        t_api = timed(lambda: convert(source, ours, to), ours)
        t_cli = timed(lambda: ours_cli(source, ours, to), ours)
        same = subprocess.run(["qemu-img", "compare", "-q", "-f", "raw", "-F", FMT[to], src, ours]
                              ).returncode == 0
        rows.append((label, f"{src_kind}->{to}", t_q, t_api, t_cli, allocated(theirs),
                     allocated(ours), same))
        if src_kind == "raw":
            inputs[to] = ours
        os.unlink(theirs)
    for path in set(inputs.values()):
        os.unlink(path)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="scratch directory (needs ~3 GiB free)")
    parser.add_argument("--quick", action="store_true", help="smaller images (a smoke run)")
    args = parser.parse_args()
    if not shutil.which("qemu-img"):
        print("qemu-img not installed: nothing to compare against", file=sys.stderr)
        return 1
    scale = 8 if args.quick else 1
    cases = [("dense-1G", GiB // scale, GiB // scale),
             ("sparse-8G-256M", 8 * GiB // scale, 256 * MiB // scale),
             ("4G-holding-1G", 4 * GiB // scale, GiB // scale)]
    with tempfile.TemporaryDirectory(dir=args.dir) as workdir:
        rows = []
        for label, size, data in cases:
            rows += bench_case(workdir, label, size, data)
    print(f"{'case':16} {'step':13} {'qemu-img':>9} {'diskkit':>9} {'ratio':>6} "
          f"{'cli':>7} {'ratio':>6} {'alloc qemu':>11} {'alloc ours':>11}  identical")
    for label, step, t_q, t_api, t_cli, a_q, a_o, same in rows:
        print(f"{label:16} {step:13} {t_q:8.2f}s {t_api:8.2f}s {t_api / t_q:6.2f} "
              f"{t_cli:6.2f}s {t_cli / t_q:6.2f} {a_q / MiB:9.1f}Mi {a_o / MiB:9.1f}Mi  {same}")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
