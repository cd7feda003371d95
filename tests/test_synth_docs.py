"""docs/testing.md's worked examples run as written, as a user's pytest project."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from support import ENV

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def example_files() -> dict[str, str]:
    """``{file name: source}`` of every python block whose first line is ``# NAME.py``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    files = {}
    for block in blocks:
        first = block.splitlines()[0]
        match = re.match(r"# (\w+\.py)\b", first)
        if match:
            files[match.group(1)] = block
    return files


def test_worked_examples_run_as_written(tmp_path):
    files = example_files()
    assert set(files) == {"copy_esp.py", "test_copy_esp.py", "test_table_fuzz.py",
                          "test_convert_keeps_bytes.py"}
    for name, source in files.items():
        (tmp_path / name).write_text(source)
    bin_dir = tmp_path / "bin"  # `diskkit` as the examples call it: this checkout's
    bin_dir.mkdir()
    shim = bin_dir / "diskkit"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m diskkit "$@"\n')
    shim.chmod(0o755)
    env = dict(ENV, PATH=f"{bin_dir}:{ENV['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "diskkit.synth.plugin", "-W", "ignore::DeprecationWarning",
                           tmp_path], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "5 passed" in proc.stdout, proc.stdout
