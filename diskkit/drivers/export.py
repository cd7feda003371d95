"""Export the running Windows' third-party drivers (what DISM++ calls 驱动管理 -> 导出)."""

from __future__ import annotations

import os
import subprocess
import sys

from ..errors import DiskkitError, ImageIOError, Unsupported

OK_CODES = (0, 3010)  # 3010: success, restart required


def export_commands(dest: str) -> list[list[str]]:
    """pnputil first (Windows 10 1607+), then DISM (Windows 8.1 Update+) as the fallback."""
    return [["pnputil", "/export-driver", "*", dest],
            ["dism", "/English", "/Online", "/Export-Driver", f"/Destination:{dest}"]]


def export_drivers(dest: str, runner=subprocess.run, platform: str = sys.platform) -> dict:
    """Run the export commands in turn until one succeeds (judged by exit code only)."""
    if platform != "win32":
        raise Unsupported("drivers export reads the running Windows' driver store: run it on "
                          "Windows as administrator (or export with DISM++), then copy the folder here")
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise ImageIOError(f"{dest}: {exc.strerror or exc}") from None
    attempts = []
    for argv in export_commands(dest):
        try:
            code = runner(argv).returncode
        except OSError as exc:
            code = None
            attempts.append({"command": argv, "error": str(exc)})
        else:
            attempts.append({"command": argv, "returncode": code})
        if code in OK_CODES:
            return {"destination": dest, "tool": argv[0], "attempts": attempts}
    tried = "; ".join(f"{a['command'][0]}: " + (f"exit code {a['returncode']}" if "returncode" in a
                                                 else a["error"]) for a in attempts)
    raise DiskkitError(f"driver export to {dest} failed ({tried}); run as administrator")
