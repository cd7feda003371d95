"""VHDX convert against ``qemu-img convert``, whole process, in the same run, printed as ratios.

    python3 benchmarks/bench_vhdx.py [--dir /var/tmp] [--quick]

Cases: a 1 GiB dense image and an 8 GiB sparse image holding 256 MiB, each raw -> VHDX
(dynamic, 32 MiB blocks), VHDX -> raw and VHDX -> dynamic VHD. Both tools run as processes
(``python -m diskkit convert`` against ``qemu-img convert``), each timing ends with ``sync``
so page-cache write-back is charged to whoever caused it, and the peak RSS of each process is
shown (target: diskkit < 200 MiB). Outputs are checked with ``qemu-img compare``. Ratios > 1
mean diskkit is slower; the target is <= 1.5.
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

MiB, GiB = 1 << 20, 1 << 30
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
QEMU_FMT = {"raw": "raw", "vhdx": "vhdx", "dynamic": "vpc"}
QEMU_OPTS = {"vhdx": ["-o", "subformat=dynamic,block_size=32M"],
             "dynamic": ["-o", "subformat=dynamic,force_size=on"], "raw": []}


def make_source(path: str, size: int, data: int) -> None:
    """``data`` bytes of half-random MiB runs spread over a sparse file of ``size``."""
    rng = random.Random(size ^ data)
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        fh.truncate(size)
        slots = rng.sample(range(size // MiB), data // MiB) if data < size else range(size // MiB)
        for slot in sorted(slots):
            fh.seek(slot * MiB)
            fh.write(block[:MiB // 2] + os.urandom(MiB // 2))
    os.sync()


def run_timed(cmd: list[str]) -> tuple[float, int]:
    """Wall time of ``cmd`` then ``sync``, and the process's peak RSS in bytes; best of two."""
    best, peak = float("inf"), 0
    for _ in range(2):
        os.sync()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status):
            sys.exit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
        os.sync()
        best = min(best, time.perf_counter() - start)
        peak = max(peak, usage.ru_maxrss * 1024)
    return best, peak


def bench_case(workdir: str, label: str, size: int, data: int) -> list[tuple]:
    src = os.path.join(workdir, f"{label}.raw")
    make_source(src, size, data)
    rows, inputs = [], {"raw": src}
    for src_kind, to in (("raw", "vhdx"), ("vhdx", "raw"), ("vhdx", "dynamic")):
        source = inputs[src_kind]
        ours, theirs = (os.path.join(workdir, f"{label}-{who}.{src_kind}-{to}")
                        for who in ("ours", "qemu"))
        for path in (ours, theirs):
            if os.path.exists(path):
                os.unlink(path)
        t_q, m_q = run_timed(["qemu-img", "convert", "-f", QEMU_FMT[src_kind], "-O",
                              QEMU_FMT[to], *QEMU_OPTS[to], source, theirs])
        t_o, m_o = run_timed([sys.executable, "-m", "diskkit", "-q", "convert", source, ours,
                              "--to", to, "--force"])
        same = subprocess.run(["qemu-img", "compare", "-q", "-f", "raw", "-F", QEMU_FMT[to],
                               src, ours]).returncode == 0
        rows.append((label, f"{src_kind}->{to}", t_q, t_o, m_q, m_o, same))
        if src_kind == "raw":
            inputs[to] = ours
        os.unlink(theirs)
    for path in set(inputs.values()):
        os.unlink(path)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="scratch directory (needs ~3 GiB free)")
    parser.add_argument("--quick", action="store_true", help="images 8x smaller (a smoke run)")
    args = parser.parse_args()
    if not shutil.which("qemu-img"):
        print("qemu-img not installed: nothing to compare against", file=sys.stderr)
        return 1
    scale = 8 if args.quick else 1
    cases = [("dense-1G", GiB // scale, GiB // scale),
             ("sparse-8G-256M", 8 * GiB // scale, 256 * MiB // scale)]
    with tempfile.TemporaryDirectory(dir=args.dir) as workdir:
        rows = []
        for label, size, data in cases:
            rows += bench_case(workdir, label, size, data)
    print(f"{'case':16} {'step':14} {'qemu-img':>9} {'diskkit':>9} {'ratio':>6} "
          f"{'RSS qemu':>9} {'RSS ours':>9}  identical")
    for label, step, t_q, t_o, m_q, m_o, same in rows:
        print(f"{label:16} {step:14} {t_q:8.2f}s {t_o:8.2f}s {t_o / t_q:6.2f} "
              f"{m_q / MiB:7.0f}Mi {m_o / MiB:7.0f}Mi  {same}")
    return 0 if all(r[-1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
