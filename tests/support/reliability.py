"""Judging how diskkit fails (the reliability suites): outcomes, time and memory limits.

A user-caused failure must look like ``diskkit: error: <one line>`` with exit code 2; a check
that finds problems exits 1; anything else (a traceback, ``internal error``, exit 3, a
signal) is a bug in diskkit.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import subprocess
import tracemalloc
from pathlib import Path


def failure_problem(proc: subprocess.CompletedProcess, allowed=(0, 1, 2)) -> str | None:
    """Why this run is not an acceptable outcome for hostile input, or None if it is."""
    err = proc.stderr
    if proc.returncode not in allowed:
        return f"exit code {proc.returncode}"
    if "Traceback (most recent call last)" in err or "internal error" in err:
        return "traceback / internal error"
    if proc.returncode == 2:
        errors = [line for line in err.splitlines() if line.startswith("diskkit: error:")]
        if len(errors) != 1:
            return "exit 2 without exactly one 'diskkit: error:' line"
        if len(errors[0]) <= len("diskkit: error: "):
            return "empty error message"
    return None


def assert_clean_outcome(proc: subprocess.CompletedProcess, what: str = "", allowed=(0, 1, 2)) -> None:
    problem = failure_problem(proc, allowed)
    assert problem is None, (f"{what}: {problem}\nargs: {proc.args}\nstdout:\n{proc.stdout[-2000:]}"
                             f"\nstderr:\n{proc.stderr[-4000:]}")


def assert_error(proc: subprocess.CompletedProcess, what: str = "") -> str:
    """The command failed the way a user should see it: exit 2 and one error line."""
    assert proc.returncode == 2, (f"{what}: expected a clean error (exit 2), got {proc.returncode}"
                                  f"\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-3000:]}")
    assert_clean_outcome(proc, what)
    return proc.stderr


def host_limit(nbytes: int):
    """preexec_fn: files the child writes may not grow beyond ``nbytes`` (SIGXFSZ ignored, so
    writes past it fail with EFBIG, as on a full disk)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return apply


@contextlib.contextmanager
def time_limit(seconds: int, what: str):
    """Fail (not hang) when a parser loops: SIGALRM turns a hang into an exception."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"{what}: still running after {seconds} s (a loop in the parser?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def memory_limit(limit: int, what: str):
    """Fail when Python allocations peak above ``limit`` bytes (a header-sized allocation)."""
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= limit, f"{what}: allocated {peak} bytes at peak (limit {limit})"


def write_sparse(path: str | Path, data: bytes, chunk: int = 1 << 16) -> None:
    """Write an image leaving all-zero chunks as holes (FAT32 templates are mostly zeros)."""
    with open(path, "wb") as fh:
        for pos in range(0, len(data), chunk):
            piece = data[pos:pos + chunk]
            if piece.count(0) != len(piece):
                fh.seek(pos)
                fh.write(piece)
        fh.truncate(len(data))
