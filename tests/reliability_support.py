"""Shared helpers for the reliability tests: running the CLI as a user would, judging failures.

A user-caused failure must look like ``diskkit: error: <one line>`` with exit code 2; a check
that finds problems exits 1; anything else (a traceback, ``internal error``, exit 3, a
signal) is a bug in diskkit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C")
ENV.pop("DISKKIT_KILL_AFTER_WRITES", None)
WORKERS = max(2, (os.cpu_count() or 2) * 2)


def cli(*args, env: dict | None = None, timeout: int = 120, cwd: str | None = None,
        preexec_fn=None) -> subprocess.CompletedProcess:
    """Run ``python -m diskkit ARGS`` in a subprocess; text output."""
    return subprocess.run([sys.executable, "-m", "diskkit", *map(str, args)],
                          capture_output=True, text=True, env={**ENV, **(env or {})},
                          timeout=timeout, cwd=cwd or str(ROOT), preexec_fn=preexec_fn)


def cli_inprocess(*args, timeout: int = 30) -> subprocess.CompletedProcess:
    """The CLI's ``main`` in this process (no interpreter start-up): same exit codes and output.

    For running many read commands quickly; a hang fails through SIGALRM after ``timeout``.
    """
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from diskkit.cli.__main__ import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), time_limit(timeout, " ".join(argv)):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # main lets nothing out unless --debug; show it like a crash
            import traceback

            traceback.print_exc(file=err)
            code = 3
    return subprocess.CompletedProcess(["diskkit", *argv], code, out.getvalue(), err.getvalue())


def cli_many(commands: list[list], **kw) -> list[subprocess.CompletedProcess]:
    """Run many CLI invocations concurrently (each is its own process)."""
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda argv: cli(*argv, **kw), commands))


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


@cache
def cli_commands() -> frozenset[tuple[str, ...]]:
    """Every command path the CLI registers now, e.g. ('fat', 'ls'); empty if it cannot load."""
    try:
        from diskkit.cli.__main__ import build_parser

        parser = build_parser()
    except Exception:  # another team's module mid-edit: treat as not there yet
        return frozenset()
    found = set()

    def walk(p, prefix):
        for action in p._actions:
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, sub in choices.items():
                    found.add(prefix + (name,))
                    walk(sub, prefix + (name,))

    walk(parser, ())
    return frozenset(found)


def has_command(*words: str) -> bool:
    return tuple(words) in cli_commands()


def need_command(*words: str) -> None:
    """Skip while another team has not registered this command yet (turns on by itself)."""
    if not has_command(*words):
        pytest.skip(f"`diskkit {' '.join(words)}` is not registered yet")


def need_api(*names: str):
    """importorskip for ``module:attr`` names from the cross-team contracts."""
    found = []
    for name in names:
        module_name, _, attr = name.partition(":")
        module = pytest.importorskip(module_name)
        if attr and not hasattr(module, attr):
            pytest.skip(f"{module_name}.{attr} does not exist yet")
        found.append(getattr(module, attr) if attr else module)
    return found[0] if len(found) == 1 else found


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
