"""The deploy step, one workflow for ``ramos script deploy`` and ``ramos build``.

On Windows the whole deploy is one .cmd script (written, or run now step by step). On Linux,
mkntfs and wimapply format the Windows partition and apply the WIM into the local VHD, and
the rest (drivers, SVBus, offline registry, bcdboot) becomes a .cmd for Windows, with every
path in it as Windows will see it: the VHD at ``--windows-path``, and folders beside the VHD
at the same place beside it there.
"""

from __future__ import annotations

import ntpath
import os
import sys
from dataclasses import dataclass

from ..errors import NotFound, UsageError
from ..fileio import atomic_output, check_new_output, is_windows_path
from ..i18n import tr
from ..boot.chains import ramos_chain
from .windows import DeployOptions, deploy_script, render_cmd

DEFAULT_CHAIN = "grub2-map"
DEFAULT_WINDOWS_FOLDER = "D:\\ramos"


@dataclass
class DeployRequest:
    """What the user asked for. ``vhd`` is the VHD as Windows sees it for a script, or this
    machine's file for a Linux run (then ``windows_path`` says where it will be on Windows)."""

    vhd: str
    wim: str
    index: int
    chain: str = DEFAULT_CHAIN
    drivers: str | None = None
    svbus: str | None = None
    letters: str = "VS"
    windows_path: str | None = None
    reformat: bool = False

    def windows_vhd(self) -> str:
        """Where the VHD is on Windows (a Linux run's default: D:\\ramos\\NAME)."""
        if self.windows_path:
            return self.windows_path
        if is_windows_path(self.vhd):
            return self.vhd
        return ntpath.join(DEFAULT_WINDOWS_FOLDER, os.path.basename(self.vhd))

    def on_windows(self, path: str | None, what: str) -> str | None:
        """A path given on this machine, as the Windows script must name it.

        A Windows path stays as it is; a local path inside the VHD's folder moves with the VHD
        (``build/drivers`` beside ``build/win.vhd`` -> ``D:\\ramos\\drivers``); any other local
        path cannot be guessed.
        """
        if path is None or is_windows_path(path):
            return path
        rel = os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(self.vhd)))
        if rel == os.curdir or rel.startswith(os.pardir) or os.path.isabs(rel):
            raise UsageError(tr("{what} {path}: a folder on this machine outside the VHD's "
                                "folder, so where Windows will see it is unknown; give it as a "
                                "Windows path (e.g. {what} {example})", what=what, path=path,
                                example=ntpath.join(DEFAULT_WINDOWS_FOLDER, "drivers")))
        return ntpath.join(ntpath.dirname(self.windows_vhd()), rel.replace(os.sep, "\\"))


def svbus_warning(chain: str, svbus: str | None) -> str | None:
    if ramos_chain(chain).needs_svbus and not svbus:
        return tr("the {chain} chain needs the SVBus driver in the image and no --svbus was "
                  "given: the first RAM boot will stop with INACCESSIBLE_BOOT_DEVICE (0x7B). "
                  "Inject it (--svbus DIR, or DISM++ driver import) before booting from RAM",
                  chain=chain)
    return None


def warnings(req: DeployRequest) -> list[str]:
    """What will go wrong later although nothing is wrong yet."""
    found = [w for w in [svbus_warning(req.chain, req.svbus)] if w]
    vhd = req.windows_vhd()
    if any(not c.isascii() or c == " " for c in vhd):
        found.append(tr("the VHD path has spaces or non-ASCII characters: the boot loaders find "
                        "the VHD by path, and plain ASCII names are the safe choice "
                        "(e.g. D:\\ramos\\win.vhd)"))
    return found


def options(req: DeployRequest, applied: bool = False, wim: str | None = None,
            platform: str = sys.platform) -> DeployOptions:
    """The Windows script's options. Made on another system from a local VHD, the script
    names the Windows side of every path; ``applied``: Linux formatted and applied already,
    so the script skips format and apply."""
    if len(req.letters) != 2:
        raise UsageError(tr("--letters takes two letters, Windows first: VS"))
    wim = wim or req.wim
    if not applied:
        check_index(wim, req.index, platform)
    local = not is_windows_path(req.vhd) and platform != "win32"
    fields = dict(vhd=req.windows_vhd() if local else req.vhd, wim=wim,
                  index=req.index, chain=req.chain,
                  drivers=req.on_windows(req.drivers, "--drivers") if local else req.drivers,
                  svbus=req.on_windows(req.svbus, "--svbus") if local else req.svbus,
                  windows_letter=req.letters[0], esp_letter=req.letters[1],
                  format=not applied, apply=not applied)
    return DeployOptions(**fields)


def check_index(wim: str, index: int, platform: str = sys.platform,
                must_exist: bool = False) -> None:
    """A WIM on this machine must hold image ``index``; a Windows path is checked there."""
    if index < 1:
        raise UsageError(tr("--index {index}: image indexes start at 1 (list them: dism "
                            "/Get-WimInfo /WimFile:install.wim)", index=index))
    if is_windows_path(wim) and platform != "win32" and not must_exist:
        return
    if not os.path.exists(wim):
        if must_exist or platform == "win32" or os.path.isabs(wim):
            raise NotFound(tr("{wim}: no such WIM file", wim=wim))
        return  # a bare name for the Windows side (the script's own folder)
    count = wim_image_count(wim)
    if index > count:
        raise UsageError(tr("--index {index}: {wim} holds {count} image(s) (list them: dism "
                            "/Get-WimInfo /WimFile:install.wim, or wiminfo)", index=index,
                            wim=wim, count=count))


def wim_image_count(path: str) -> int:
    """The number of images in a WIM or ESD file, from its header."""
    from .wim import read_header

    return read_header(path).image_count


def default_script_path(vhd: str) -> str:
    """Where a Linux run writes the rest of the deploy: beside the VHD."""
    return os.path.splitext(vhd)[0] + "-deploy.cmd"


def script_text(req: DeployRequest, applied: bool = False, wim: str | None = None,
                platform: str = sys.platform) -> str:
    return render_cmd(deploy_script(options(req, applied, wim, platform)))


def write_script(path: str, text: str, force: bool = True) -> None:
    """The .cmd as written: UTF-8, CRLF already in ``text``."""
    with atomic_output(path, force) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def apply_on_linux(req: DeployRequest) -> dict:
    """The Linux share: NTFS and the WIM into the local VHD (``linux.deploy``)."""
    from . import linux

    check_index(req.wim, req.index, "linux", must_exist=True)
    return linux.deploy(req.vhd, req.wim, req.index, req.reformat)


def run(req: DeployRequest, out: str | None = None, force: bool = False,
        platform: str = sys.platform, echo=print) -> dict:
    """``--run``: on Windows every step now; on Linux the Linux share now and the rest as a .cmd."""
    if platform == "win32":
        from .windows import run_steps

        script = deploy_script(options(req, platform=platform))
        if out:
            write_script(out, render_cmd(script), force)
        log_dir = os.path.join(os.path.dirname(os.path.abspath(out or "deploy.cmd")),
                               "diskkit-logs")
        return {"steps": run_steps(script, log_dir, echo=echo), "logs": log_dir}
    rest = script_text(req, applied=True, platform=platform)  # paths checked before any write
    if out:
        check_new_output(out, force)
    result = apply_on_linux(req)
    out = out or default_script_path(req.vhd)
    write_script(out, rest, force=True)
    result["remaining_script"] = out
    result["windows_path"] = req.windows_vhd()
    return result
