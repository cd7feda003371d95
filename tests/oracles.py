"""Independent tools (written by others) that check diskkit's output; see ../shared/ORACLES.md."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
ENV = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C")


def need(tool: str) -> str:
    """Path of an oracle tool; the test is skipped (loudly) when it is not installed."""
    path = shutil.which(tool) or (tool if os.path.exists(tool) else None)
    if not path:
        pytest.skip(f"oracle {tool} not installed (run .ci/run's apt-get line)")
    return path


def run(*cmd, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run an oracle; text output; raise with its stderr when ``check`` and it fails."""
    need(str(cmd[0]))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, env=ENV, input=input)
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def diskkit(*args, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    import sys

    proc = subprocess.run([sys.executable, "-m", "diskkit", *map(str, args)],
                          capture_output=True, text=True, env=ENV)
    if check and proc.returncode != 0:
        raise AssertionError(f"diskkit {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b.")


def boot_uefi(image: str, fmt: str, workdir: str, timeout: int = 120, marker: str | None = None) -> str:
    """Boot ``image`` under QEMU + OVMF headless; return the serial log with ANSI stripped.

    A grub.cfg that echoes a marker and halts ends the run early; a failed boot sits in the
    firmware until ``timeout``. Judge by the marker in the returned text.
    """
    need("qemu-system-x86_64")
    if not os.path.exists(OVMF_CODE):
        pytest.skip("OVMF firmware not installed")
    vars_fd = os.path.join(workdir, "vars.fd")
    serial = os.path.join(workdir, "serial.log")
    shutil.copy(OVMF_VARS, vars_fd)
    cmd = ["timeout", str(timeout), "qemu-system-x86_64", "-machine", "q35", "-m", "512",
           "-display", "none", "-monitor", "none", "-serial", f"file:{serial}", "-no-reboot",
           "-net", "none",
           "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
           "-drive", f"if=pflash,format=raw,file={vars_fd}",
           "-drive", f"file={image},format={fmt}"]
    subprocess.run(cmd, capture_output=True)
    with open(serial, "rb") as fh:
        text = _ANSI.sub("", fh.read().decode("utf-8", "replace"))
    return text


def grub_efi(out: str, prefix: str = "/EFI/BOOT", extra_modules: tuple[str, ...] = ()) -> str:
    """Build a GRUB EFI binary with Debian's grub-mkimage (reads grub.cfg from ``prefix``)."""
    modules = ["part_gpt", "part_msdos", "fat", "normal", "configfile", "echo", "loopback",
               "chain", "search", "search_fs_file", "search_fs_uuid", "ls", "cat", "halt",
               "reboot", "test", "regexp", *extra_modules]
    run("grub-mkimage", "-O", "x86_64-efi", "-p", prefix, "-o", out, *modules)
    return out
