"""How every benchmark measures and reports: one home for timing, peak memory, goals and tables.

A benchmark module defines ``benchmark(bench) -> None`` and calls ``bench.compare`` once per
job; ``python3 -m benchmarks.run_all`` runs them all, and ``harness.main`` runs one alone.

Every comparison is whole process against the peer tool, in the same run:

- pairs interleaved: each round runs diskkit, the peer and a bare ``python3 -c pass`` one
  after the other, so a burst of load falls on all of them alike; the row shows the median of
  the rounds and the min-max range (the machine's noise);
- durability equalised: after each side's processes exit, its outputs are fsynced inside the
  timing (diskkit fsyncs what it writes; qemu-img and mtools leave that to the kernel);
  ``os.sync()`` before each run, outside the timing, so nobody pays for earlier write-back;
- peak memory: the largest ``ru_maxrss`` of the side's processes (``wait4``);
- a fast wrong answer cannot win: ``verify`` checks the outputs with an independent tool.

Goals (issue 18; VHDX 1.5x by issue 17): a job the peer takes a second or more for must be at
or below ``ratio`` times the peer's median; a shorter job may exceed ``ratio`` times the peer
by the interpreter's start-up plus 50 ms (Python cannot start in 5 ms; it must not add more).
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MiB, GiB = 1 << 20, 1 << 30
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
# Bytecode as an installed diskkit has it (pip compiles on install): cached outside the source
# tree, compiled once before the first timing (``compile_bytecode``), even where the
# environment sets PYTHONDONTWRITEBYTECODE, which would charge every run for compiling.
PYCACHE = os.path.join(tempfile.gettempdir(), "diskkit-bench-pycache")
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
ENV.update(LC_ALL="C.UTF-8", MTOOLS_SKIP_CHECK="1", PYTHONPYCACHEPREFIX=PYCACHE,
           PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
SHORT_JOB = 1.0  # seconds: below this the peer's time, the interpreter start-up allowance applies
STARTUP_ALLOWANCE = 0.050


class BenchError(Exception):
    """A command failed or an output did not verify: the benchmark cannot give a number."""


def diskkit(*args: str) -> list[str]:
    """argv of a whole ``diskkit`` process (quiet: no progress bars)."""
    return [PYTHON, "-m", "diskkit", "-q", *map(str, args)]


@dataclass
class Side:
    """One side of a comparison: processes run one after another, then ``outputs`` fsynced.

    ``prepare`` runs before every timed run, outside the timing (remove the last output,
    copy a fresh input image)."""

    label: str
    steps: Sequence[Sequence[str]]
    outputs: Sequence[str] = ()
    prepare: Callable[[], None] | None = None


@dataclass
class Sample:
    seconds: float
    peak_rss: int  # bytes, largest of the side's processes
    cpu: float  # user + system seconds of the side's processes


@dataclass
class Goal:
    """At or below ``ratio`` x the peer; short jobs get the interpreter start-up + 50 ms."""

    ratio: float = 1.0

    def allowed(self, peer: float, python: float) -> float:
        if peer >= SHORT_JOB:
            return self.ratio * peer
        return self.ratio * peer + python + STARTUP_ALLOWANCE

    def text(self, peer: float) -> str:
        if peer >= SHORT_JOB:
            return f"≤ {self.ratio:g}x"
        return f"≤ {self.ratio:g}x + py + 50 ms"


def median(samples: list[Sample], key: str = "seconds") -> float:
    return statistics.median(getattr(s, key) for s in samples)


@dataclass
class Row:
    """One job measured side by side: the line in the table."""

    job: str
    peer_label: str
    ours: list[Sample]
    peer: list[Sample]
    python: list[Sample]
    goal: Goal
    checked: str = ""
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after

    @property
    def ratio(self) -> float:
        return median(self.ours) / median(self.peer)

    @property
    def pair_ratios(self) -> list[float]:
        return [o.seconds / p.seconds for o, p in zip(self.ours, self.peer)]

    @property
    def over_python(self) -> float:
        return median(self.ours) - median(self.python)

    @property
    def at_goal(self) -> bool:
        return median(self.ours) <= self.goal.allowed(median(self.peer), median(self.python))


# GNU time reports its child's peak RSS apart from its own: a child forked straight from this
# Python process would inherit this process's high-water mark in ``ru_maxrss`` at exec.
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
_rss_file = os.path.join(tempfile.gettempdir(), f"diskkit-bench-rss-{os.getpid()}")
atexit.register(lambda: os.path.exists(_rss_file) and os.unlink(_rss_file))


def run_process(argv: Sequence[str]) -> tuple[int, float]:
    """Run ``argv`` to completion: its peak RSS (bytes) and CPU seconds; BenchError if it fails."""
    wrapped = [GNU_TIME, "-f", "%M", "-o", _rss_file, *argv] if GNU_TIME else list(argv)
    proc = subprocess.Popen(wrapped, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    message = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status):
        raise BenchError(f"{' '.join(map(str, argv))} failed: {message}")
    peak = usage.ru_maxrss * 1024
    if GNU_TIME:
        with open(_rss_file) as fh:
            peak = int(fh.read().split()[-1]) * 1024
    return peak, usage.ru_utime + usage.ru_stime


def run_side(side: Side) -> Sample:
    """One timed run of ``side``: its processes, then fsync of its outputs."""
    if side.prepare:
        side.prepare()
    os.sync()
    peak, cpu = 0, 0.0
    start = time.perf_counter()
    for argv in side.steps:
        rss, used = run_process(argv)
        peak, cpu = max(peak, rss), cpu + used
    for path in side.outputs:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return Sample(time.perf_counter() - start, peak, cpu)


PYTHON_START = Side("python3 -c pass", [[PYTHON, "-c", "pass"]])


class Bench:
    """What a benchmark gets: the scale, a scratch directory, and ``compare``."""

    def __init__(self, workdir: str, quick: bool = False, rounds: int | None = None,
                 echo: Callable[[str], None] | None = print):
        self.workdir = workdir
        self.quick = quick
        self.rounds = rounds or (3 if quick else 5)
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.skipped = ""
        self.echo = echo or (lambda line: None)

    def scale(self, size: int, quick_divisor: int = 8) -> int:
        """``size`` for a full run, ``size / quick_divisor`` for a quick one."""
        return size // quick_divisor if self.quick else size

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def skip(self, reason: str) -> None:
        """Nothing to compare against here (a peer tool is missing): say why, measure nothing."""
        self.skipped = reason
        self.echo(f"  skipped: {reason}")

    def note(self, text: str) -> None:
        """A line printed under this benchmark's table (what the workload is)."""
        self.notes.append(text)

    def compare(self, job: str, ours: Side, peer: Side, goal: Goal | None = None,
                verify: Callable[[], str] | None = None, rounds: int | None = None) -> Row:
        """Measure ``ours`` and ``peer`` in interleaved rounds; ``verify`` (after the last
        round, outputs still in place) returns what it checked or raises BenchError."""
        load_before = os.getloadavg()[0]
        samples: dict[str, list[Sample]] = {"ours": [], "peer": [], "python": []}
        for _ in range(rounds or self.rounds):
            samples["ours"].append(run_side(ours))
            samples["peer"].append(run_side(peer))
            samples["python"].append(run_side(PYTHON_START))
        checked = verify() if verify else ""
        row = Row(job, peer.label, samples["ours"], samples["peer"], samples["python"],
                  goal or Goal(), checked, (load_before, os.getloadavg()[0]))
        self.rows.append(row)
        self.echo(text_line(row))
        return row


# -- inputs and checking outputs ----------------------------------------------------------------

def sparse_source(path: str, size: int, data: int) -> str:
    """A raw image of ``size`` with ``data`` bytes in 1 MiB runs (half repeated, half random,
    so neither compression nor zero tests shortcut them) at random places; the rest holes."""
    rng = random.Random(size ^ data)
    block = os.urandom(MiB)
    with open(path, "wb") as fh:
        fh.truncate(size)
        slots = rng.sample(range(size // MiB), data // MiB) if data < size else range(size // MiB)
        for slot in sorted(slots):
            fh.seek(slot * MiB)
            fh.write(block[:MiB // 2] + os.urandom(MiB // 2))
    return path


# -- checking outputs ---------------------------------------------------------------------------

def check_output(argv: Sequence[str], what: str) -> str:
    """Run an oracle; its success is the check's text, its failure a BenchError."""
    proc = subprocess.run(list(map(str, argv)), env=ENV, capture_output=True, text=True)
    if proc.returncode:
        raise BenchError(f"{what} failed: {(proc.stdout + proc.stderr).strip()[:500]}")
    return what


def same_image(raw: str, ours: str, fmt: str, theirs: str) -> str:
    """``qemu-img compare`` of diskkit's output with the raw source, and how much each side's
    output allocates on disk (a fast answer that loses sparseness is a worse answer)."""
    check_output(["qemu-img", "compare", "-q", "-f", "raw", "-F", fmt, raw, ours],
                 f"qemu-img compare of {os.path.basename(ours)}")
    return (f"identical (qemu-img compare); allocated {allocated(ours) / MiB:.0f} / "
            f"{allocated(theirs) / MiB:.0f} MiB")


def allocated(path: str) -> int:
    return os.stat(path).st_blocks * 512


def need(*tools: str) -> list[str]:
    """The tools of ``tools`` that are not installed (a benchmark skips when any is missing)."""
    return [t for t in tools if not shutil.which(t)]


def remover(*paths: str) -> Callable[[], None]:
    """A ``prepare`` that deletes the last run's outputs (replacing a big file costs extra)."""
    def prepare() -> None:
        for path in paths:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
    return prepare


# -- formatting ---------------------------------------------------------------------------------

def size_text(n: int) -> str:
    """``1 GiB``, ``256 MiB``: workload sizes in job names (quick runs shrink them)."""
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (1024, "KiB")):
        if n >= unit:
            return f"{n / unit:g} {name}"
    return f"{n} bytes"


def seconds(value: float) -> str:
    if value < 0.1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def spread(samples: list[Sample]) -> str:
    values = [s.seconds for s in samples]
    return f"{seconds(statistics.median(values))} ({seconds(min(values))}–{seconds(max(values))})"


def text_line(row: Row) -> str:
    ratios = row.pair_ratios
    return (f"  {row.job}: diskkit {spread(row.ours)}, {row.peer_label} {spread(row.peer)}, "
            f"ratio {row.ratio:.2f}x (pairs {min(ratios):.2f}–{max(ratios):.2f}), "
            f"+{row.over_python * 1000:.0f} ms over python, "
            f"peak {peak_text(row.ours)} / {peak_text(row.peer)}, "
            f"{'at goal' if row.at_goal else 'NOT at goal'} "
            f"({row.goal.text(median(row.peer))}), load {row.load[0]:.1f}→{row.load[1]:.1f}"
            + (f", {row.checked}" if row.checked else ""))


def peak_text(samples: list[Sample]) -> str:
    """The largest peak RSS of the rounds."""
    return f"{max(s.peak_rss for s in samples) / MiB:.0f} MiB"


TABLE_HEAD = ("| job | diskkit | peer | ratio (pairs) | over `python3 -c pass` "
              "| CPU diskkit / peer | peak RSS diskkit / peer | goal | checked |\n"
              "|---|---|---|---|---|---|---|---|---|")


def table(rows: list[Row]) -> str:
    """The markdown table: medians with (min–max) of the rounds."""
    lines = [TABLE_HEAD]
    for row in rows:
        ratios = row.pair_ratios
        lines.append(
            f"| {row.job} | {spread(row.ours)} | {row.peer_label} {spread(row.peer)} "
            f"| **{row.ratio:.2f}x** ({min(ratios):.2f}–{max(ratios):.2f}) "
            f"| +{row.over_python * 1000:.0f} ms "
            f"| {seconds(median(row.ours, 'cpu'))} / {seconds(median(row.peer, 'cpu'))} "
            f"| {peak_text(row.ours)} / {peak_text(row.peer)} "
            f"| {row.goal.text(median(row.peer))}: {'yes' if row.at_goal else '**no**'} "
            f"| {row.checked} |")
    return "\n".join(lines)


# -- running one benchmark alone ----------------------------------------------------------------

def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="smaller workloads and 3 rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds per job (default 5, quick 3)")
    parser.add_argument("--dir", default=None,
                        help="scratch directory (default: the system's temporary directory)")
    return parser


def compile_bytecode() -> None:
    """Compile diskkit's modules into PYCACHE, as installing it would."""
    subprocess.run([PYTHON, "-m", "compileall", "-q", os.path.join(ROOT, "diskkit")], env=ENV,
                   check=True, stdout=subprocess.DEVNULL)


def run(benchmark: Callable[[Bench], None], quick: bool, rounds: int | None,
        directory: str | None, echo: Callable[[str], None] | None = print) -> Bench:
    """Run ``benchmark`` in a fresh scratch directory (removed afterwards)."""
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="diskkit-bench-", dir=directory) as workdir:
        bench = Bench(workdir, quick, rounds, echo)
        benchmark(bench)
    return bench


def main(benchmark: Callable[[Bench], None], doc: str) -> int:
    """Command line of a single benchmark module: run it and print its table."""
    args = arguments(doc.splitlines()[0]).parse_args()
    try:
        bench = run(benchmark, args.quick, args.rounds, args.dir)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    print()
    print(table(bench.rows))
    for line in bench.notes:
        print(line)
    return 0
