"""Booting images under QEMU + OVMF, and GRUB EFI binaries built with Debian's grub-mkimage."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from support import need_tool, run

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b.")


def need_ovmf() -> None:
    """Skip unless QEMU and the OVMF firmware are installed."""
    need_tool("qemu-system-x86_64")
    if not os.path.exists(OVMF_CODE):
        pytest.skip(f"OVMF firmware ({OVMF_CODE}) is not installed (Debian package ovmf)")


def boot_uefi(image: str, fmt: str, workdir: str, timeout: int = 120, marker: str | None = None) -> str:
    """Boot ``image`` under QEMU + OVMF headless; return the serial log with ANSI stripped.

    A grub.cfg that echoes a marker and halts ends the run early; a failed boot sits in the
    firmware until ``timeout``. Judge by the marker in the returned text.
    """
    need_ovmf()
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
        text = ANSI.sub("", fh.read().decode("utf-8", "replace"))
    return text


def grub_efi(out: str, prefix: str = "/EFI/BOOT", extra_modules: tuple[str, ...] = ()) -> str:
    """Build a GRUB EFI binary with Debian's grub-mkimage (reads grub.cfg from ``prefix``)."""
    modules = ["part_gpt", "part_msdos", "fat", "normal", "configfile", "echo", "loopback",
               "chain", "search", "search_fs_file", "search_fs_uuid", "ls", "cat", "halt",
               "reboot", "test", "regexp", *extra_modules]
    run("grub-mkimage", "-O", "x86_64-efi", "-p", prefix, "-o", out, *modules)
    return out
