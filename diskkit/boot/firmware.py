"""UEFI firmware boot entries: the commands that put a loader first in the boot order.

Windows: ``bcdedit /copy {bootmgr}`` gives a new firmware-application entry pointing at the
system ESP; ``/set {id} path`` points it at the loader and ``{fwbootmgr} displayorder /addfirst``
makes the firmware try it first. Linux: ``efibootmgr -c`` creates the entry and puts it first
in BootOrder itself. ``entry_commands`` only builds the argument lists; ``apply`` runs them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DiskkitError, NotFound, UsageError
from .quoting import check_text, cmd_quote, normalize_file_path, windows_path

NEW_ID = "{NEW-ID}"  # stands for the GUID ``bcdedit /copy`` prints
_GUID = re.compile(r"\{[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}")


@dataclass(frozen=True)
class EntryPlan:
    platform: str                 # windows | linux
    commands: list[list[str]]     # argument vectors; NEW_ID is filled in when applied
    undo: str                     # how to remove the entry again

    def script(self) -> str:
        """The commands as a user would type them in cmd.exe or a POSIX shell."""
        return "\n".join(format_command(self.platform, argv) for argv in self.commands)


def format_command(platform: str, argv: list[str]) -> str:
    if platform == "linux":
        return shlex.join(argv)
    return " ".join(cmd_quote(a) if re.search(r"[\s&|<>^%()]", a) else a for a in argv)


def default_platform() -> str:
    return "windows" if sys.platform == "win32" else "linux"


def entry_commands(loader: str, label: str, platform: str | None = None,
                   disk: str | None = None, part: int | None = None) -> EntryPlan:
    """The commands adding a firmware boot entry for ``loader`` (a path on the ESP) first."""
    platform = platform or default_platform()
    label = check_text(label, "--label")
    _, loader_path = normalize_file_path(loader, "--loader")
    loader_win = windows_path(loader_path)
    if platform == "windows":
        if disk is not None or part is not None:
            raise UsageError("--disk/--part are for Linux; on Windows the entry is copied from "
                             "{bootmgr} and points at the system ESP")
        cmds = [["bcdedit", "/copy", "{bootmgr}", "/d", label],
                ["bcdedit", "/set", NEW_ID, "path", loader_win],
                ["bcdedit", "/set", "{fwbootmgr}", "displayorder", NEW_ID, "/addfirst"]]
        return EntryPlan("windows", cmds, f"bcdedit /delete {NEW_ID}")
    if platform == "linux":
        if not disk:
            raise UsageError("--disk is required on Linux: the disk holding the ESP "
                             "(for example --disk /dev/nvme0n1 --part 1)")
        part = 1 if part is None else part
        if part < 1:
            raise UsageError(f"--part {part}: partitions are numbered from 1")
        cmds = [["efibootmgr", "--create", "--disk", disk, "--part", str(part),
                 "--label", label, "--loader", loader_win]]
        return EntryPlan("linux", cmds, "efibootmgr --bootnum XXXX --delete-bootnum "
                         "(XXXX: the number efibootmgr printed for the new entry)")
    raise UsageError(f"--platform {platform!r}: choose windows or linux")


def is_admin(platform: str) -> bool:
    if platform == "windows":
        import ctypes

        try:
            return bool(ctypes.windll.shell32.IsUserAnAdmin())
        except (AttributeError, OSError):
            return False
    return os.geteuid() == 0


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    encoding = "oem" if sys.platform == "win32" else "utf-8"
    return subprocess.run(argv, capture_output=True, text=True, encoding=encoding,
                          errors="replace")


def apply(plan: EntryPlan, runner: Callable[[list[str]], subprocess.CompletedProcess] = _run,
          admin_check: Callable[[str], bool] = is_admin) -> list[str]:
    """Run the plan (stopping at the first failure); return each command's output.

    Judged by exit codes only, never by (localized) text, except that the new entry's GUID is
    taken from ``bcdedit /copy``'s output, which prints it in every language.
    """
    if not admin_check(plan.platform):
        how = "an elevated (administrator) prompt" if plan.platform == "windows" else "sudo"
        raise UsageError(f"--apply changes firmware boot entries: run it from {how}")
    tool = plan.commands[0][0]
    if shutil.which(tool) is None:
        raise NotFound(f"{tool}: not found on PATH")
    new_id = None
    outputs = []
    for argv in plan.commands:
        if NEW_ID in argv:
            argv = [new_id if a == NEW_ID else a for a in argv]
        proc = runner(argv)
        outputs.append((proc.stdout or "").strip())
        if proc.returncode != 0:
            raise DiskkitError(f"{format_command(plan.platform, argv)} failed "
                               f"(exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
        if new_id is None and plan.platform == "windows":
            match = _GUID.search(proc.stdout or "")
            if not match:
                raise DiskkitError(f"{format_command(plan.platform, argv)}: printed no entry GUID")
            new_id = match.group(0)
    return outputs
