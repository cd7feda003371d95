"""The test support layer: one environment, one way to run tools and the CLI, one way to skip.

Everything a test module shares with another lives in this package (tests/README.md has the
map); test modules never import each other.

- ``need_tool(name)`` / ``need_module(name)``: the tool's path / the imported module, or the
  test SKIPS naming what is missing. Only optional third-party things are skipped this way;
  diskkit's own modules are imported plainly, so a broken one fails.
- ``run(*cmd)``: an independent tool (oracle), text output, raising on failure by default.
- ``diskkit(*args)``: the real CLI in a subprocess, as a user runs it; ``diskkit_inprocess``
  (no interpreter start-up, for many read commands) and ``diskkit_many`` (concurrently).
- ``ENV``: the environment both run in (C locale, mtools' geometry check off, this checkout's
  diskkit first on PYTHONPATH, no inherited crash-point variables).
"""

from __future__ import annotations

import importlib
import io
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ (fuzz targets, VHD crafting) is imported by tests
    sys.path.insert(0, str(ROOT))

ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C")
ENV["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
for _name in ("DISKKIT_KILL_AFTER_WRITES", "DISKKIT_COUNT_FILE"):
    ENV.pop(_name, None)
WORKERS = max(2, (os.cpu_count() or 2) * 2)


def cache_dir() -> Path:
    """Where tests keep what is costly to make and safe to reuse across runs (the unpacked
    corpus, downloaded Debian packages): ``$DISKKIT_TEST_CACHE``, else ~/.cache/diskkit-tests."""
    return Path(os.environ.get("DISKKIT_TEST_CACHE")
                or os.path.join(os.path.expanduser("~"), ".cache", "diskkit-tests"))


def need_tool(name: str) -> str:
    """Path of an external tool (a command name or an absolute path); skip when it is missing."""
    path = shutil.which(name) or (name if os.path.isabs(name) and os.path.exists(name) else None)
    if not path:
        pytest.skip(f"{name} is not installed (see .ci/run's apt-get line)")
    return path


def need_module(name: str) -> ModuleType:
    """An optional third-party Python module (e.g. the libyal bindings); skip when missing.

    A module that is installed but fails to import is an error, not a skip."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name.split(".")[0] and exc.name != name:
            raise
        pytest.skip(f"Python module {name} is not installed (pip install -e '.[test]')")


def run(*cmd, check: bool = True, input: bytes | None = None, cwd=None,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run an independent tool; text output; skip when it is missing; raise with its output
    when ``check`` and it fails."""
    need_tool(str(cmd[0]))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, env=ENV, input=input,
                          cwd=cwd, timeout=timeout)
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def diskkit(*args, check: bool = True, env: dict | None = None, timeout: float = 600,
            cwd=None, preexec_fn=None) -> subprocess.CompletedProcess:
    """Run ``python -m diskkit ARGS`` in a subprocess, as a user would; text output.

    ``check``: raise with the output unless it exits 0. ``env``: variables added to ``ENV``."""
    proc = subprocess.run([sys.executable, "-m", "diskkit", *map(str, args)],
                          capture_output=True, text=True, env={**ENV, **(env or {})},
                          timeout=timeout, cwd=cwd, preexec_fn=preexec_fn)
    if check and proc.returncode != 0:
        raise AssertionError(f"diskkit {' '.join(map(str, args))} failed ({proc.returncode}):"
                             f"\n{proc.stdout}\n{proc.stderr}")
    return proc


def diskkit_inprocess(*args, timeout: int = 30) -> subprocess.CompletedProcess:
    """The CLI's ``main`` in this process (no interpreter start-up): same exit codes and output.

    For running many read commands quickly; a hang fails through SIGALRM after ``timeout``;
    an exception that escapes ``main`` is shown as a traceback with exit code 3."""
    import traceback

    from diskkit.cli.__main__ import main
    from support.reliability import time_limit

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), time_limit(timeout, " ".join(argv)):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception:
            traceback.print_exc(file=err)
            code = 3
    return subprocess.CompletedProcess(["diskkit", *argv], code, out.getvalue(), err.getvalue())


def diskkit_many(commands: list[list], **kw) -> list[subprocess.CompletedProcess]:
    """Run many CLI invocations concurrently (each its own process, ``check=False``)."""
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda argv: diskkit(*argv, check=False, **kw), commands))


@cache
def cli_commands() -> frozenset[tuple[str, ...]]:
    """Every command path the CLI has, e.g. ('fat', 'ls')."""
    from diskkit.cli.__main__ import build_parser

    found = set()

    def walk(parser, prefix):
        for action in parser._actions:
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, sub in choices.items():
                    found.add(prefix + (name,))
                    walk(sub, prefix + (name,))

    walk(build_parser(), ())
    return frozenset(found)


def assert_command(*argv) -> None:
    """Fail (never skip) unless ``argv`` (a whole command line; options before the command and
    placeholders after it are fine) starts with a complete diskkit command."""
    commands = cli_commands()
    path: tuple[str, ...] = ()
    for word in map(str, argv):
        if word.startswith("-") and not path:
            continue
        if path + (word,) not in commands:
            break
        path += (word,)
    incomplete = any(c[:len(path)] == path and len(c) > len(path) for c in commands)
    assert path and not incomplete, f"`diskkit {' '.join(map(str, argv))}` names no command"
