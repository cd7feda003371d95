"""Copy the chosen driver packages into one folder ready for ``dism /Add-Driver /Recurse``.

DISM injects every INF under the folder it is given, so a full export (often GBs) bloats the
image; picking the packages that match the machine, plus the boot-critical ones, keeps it small.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil

from ..errors import AlreadyExists, ImageIOError, UsageError, NotFound
from ..fileio import check_host_path, new_output_folders, temp_name
from .scan import Package, scan

MANIFEST = "manifest.json"


def select(packages: list[Package], only_matching: bool, boot_critical: bool) -> list[Package]:
    """No filter keeps everything; otherwise keep what any requested filter accepts."""
    if not (only_matching or boot_critical):
        return list(packages)
    return [p for p in packages
            if (only_matching and p.matched_ids) or (boot_critical and p.boot_critical)]


def pack(folder: str, out: str, hwids: set[str] | None = None, only_matching: bool = False,
         boot_critical: bool = False, force: bool = False) -> dict:
    """Copy the selected packages of ``folder`` to ``out`` with a manifest; return the summary."""
    if only_matching and hwids is None:
        raise UsageError("--only-matching needs --hwids FILE (pnputil /enum-devices /connected /ids > hwids.txt)")
    packages = scan(folder, hwids)
    if not packages:
        raise NotFound(f"{folder}: no driver packages (no .inf files) found")
    chosen = select(packages, only_matching, boot_critical)
    check_host_path(out)
    _check_output(out, force)
    with new_output_folders(out):
        return _write_pack(folder, out, packages, chosen, only_matching, boot_critical)


def _write_pack(folder, out, packages, chosen, only_matching, boot_critical) -> dict:
    """Copy under a temporary folder name, then rename it to ``out``."""
    tmp = temp_name(out)
    shutil.rmtree(tmp, ignore_errors=True)
    top = os.path.basename(os.path.abspath(folder)) or "drivers"
    try:
        for package in chosen:
            src_root = os.path.join(folder, package.path)
            dst_root = os.path.join(tmp, top if package.path == "." else package.path)
            for rel in package.files:
                dst = os.path.join(dst_root, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(os.path.join(src_root, rel), dst)
        total = sum(p.size for p in packages)
        packed = sum(p.size for p in chosen)
        summary = {
            "source": os.path.abspath(folder),
            "filters": {"only_matching": only_matching, "boot_critical": boot_critical},
            "packages_found": len(packages), "packages_packed": len(chosen),
            "size_found": total, "size_packed": packed, "size_saved": total - packed,
            "packages": [p.to_dict() for p in chosen],
        }
        os.makedirs(tmp, exist_ok=True)
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2, ensure_ascii=False)
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ImageIOError(f"{out}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def _check_output(out: str, force: bool) -> None:
    """An existing folder is replaced only if empty, or a previous pack and ``force``."""
    if not os.path.lexists(out):
        return
    if not os.path.isdir(out):
        raise AlreadyExists(f"{out}: exists and is not a folder")
    entries = os.listdir(out)
    if not entries:
        with contextlib.suppress(OSError):
            os.rmdir(out)
        return
    if not force:
        raise AlreadyExists(f"{out}: folder exists and is not empty (use --force to replace a previous pack)")
    if MANIFEST not in entries:
        raise AlreadyExists(f"{out}: not a diskkit driver pack (no {MANIFEST}); refusing to replace it")
