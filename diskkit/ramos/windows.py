"""Windows command scripts for a RAMOS image: deploy (offline, on the host) and slim (in the VM).

One list of ``Step``s per script serves both outputs: ``render_cmd`` writes a .cmd file the
user can read and run, ``run_steps`` runs the same commands from Python on Windows. Every step
is judged by its exit code, never by the (localized) text it prints; DISM always gets
``/English`` and ``/LogPath`` into one log folder.

cmd quoting: every path goes inside double quotes (which make ``& | < > ^ ( )`` and spaces
literal) with ``%`` doubled, the only character quotes do not protect in a batch file. The
file is UTF-8 and switches the console to code page 65001 first, so non-ASCII paths survive.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

from ..boot.quoting import check_text, cmd_quote
from ..errors import DiskkitError, UsageError
from ..boot.chains import ramos_chain

CMD_LOG_DIR = "%DK_LOG%"  # set at the top of every script: a folder beside the script


@dataclass(frozen=True)
class Quoted:
    """A path (or any text) argument: ``prefix`` + the value, which the .cmd output quotes."""

    value: str
    prefix: str = ""


@dataclass(frozen=True)
class LogFile:
    """A file in the log folder (``%DK_LOG%\\name`` in the .cmd, a real path in Python)."""

    name: str
    prefix: str = ""


@dataclass
class Step:
    key: str
    comment: list[str]  # what the step does and why, for the reader of the .cmd
    argv: list = field(default_factory=list)  # str | Quoted | LogFile items
    diskpart: list[str] | None = None  # a diskpart script instead of argv
    ok_codes: tuple[int, ...] = (0,)


@dataclass
class Script:
    title: str
    intro: list[str]
    steps: list[Step]
    cleanup: list[Step]  # run after a failure (and ignored if they fail themselves)
    needs_admin: bool = True


# -- rendering ----------------------------------------------------------------------------------

def cmd_arg(item) -> str:
    if isinstance(item, Quoted):
        return item.prefix + cmd_quote(item.value, "path")
    if isinstance(item, LogFile):
        return f'{item.prefix}"{CMD_LOG_DIR}\\{item.name}"'
    return item


def cmd_line(step: Step) -> list[str]:
    """The .cmd lines running one step (a diskpart script is written with echo first)."""
    if step.diskpart is None:
        return [" ".join(cmd_arg(a) for a in step.argv)]
    script = cmd_arg(LogFile(f"diskpart-{step.key}.txt"))
    lines = [f"{'>' if i == 0 else '>>'} {script} echo {line.replace('%', '%%')}"
             for i, line in enumerate(step.diskpart)]
    return lines + [f"diskpart /s {script}"]


def _check(step: Step) -> str:
    """Stop unless the exit code is acceptable; both %errorlevel% expand before ``set`` runs."""
    extra = "".join(f" if %errorlevel% neq {c}" for c in step.ok_codes if c != 0)
    return f'if %errorlevel% neq 0{extra} (set "DK_RC=%errorlevel%" & goto fail)'


def _rem(text: str) -> str:
    """cmd expands %...% even in rem lines (and chokes on %~), so comments double it too."""
    return text.replace("%", "%%")


def render_cmd(script: Script) -> str:
    """The whole .cmd file: CRLF line ends, UTF-8 without BOM (the first line must stay ``@echo``)."""
    out = ["@echo off", f"rem {script.title}", *(f"rem {_rem(line)}" for line in script.intro),
           "setlocal EnableExtensions DisableDelayedExpansion",
           "chcp 65001 >nul",
           'set "DK_LOG=%~dp0diskkit-logs"',
           'if not exist "%DK_LOG%" mkdir "%DK_LOG%"']
    if script.needs_admin:
        out.append("net session >nul 2>&1 || (echo Run this script as administrator. & exit /b 1)")
    total = len(script.steps)
    for n, step in enumerate(script.steps, 1):
        out += ["", f"rem [{n}/{total}] {step.key}", *(f"rem   {_rem(c)}" for c in step.comment),
                f'set "DK_STEP={step.key}"', f"echo [{n}/{total}] {step.key}",
                *cmd_line(step), _check(step)]
    # the log folder's path may hold & or ( ): it is only ever echoed inside quotes
    out += ["", 'echo All steps finished. Logs: "%DK_LOG%"', "exit /b 0", "", ":fail",
            'echo Step %DK_STEP% failed with exit code %DK_RC%; logs: "%DK_LOG%". Cleaning up.']
    for step in script.cleanup:
        out += [f"rem cleanup: {step.key}", *(line + " >nul 2>&1" if not line.startswith(">")
                                              else line for line in cmd_line(step))]
    out += ["exit /b 1", ""]
    return "\r\n".join(out)


# -- running (Windows) ----------------------------------------------------------------------------

def python_argv(step: Step, log_dir: str) -> list[str]:
    return [a.prefix + a.value if isinstance(a, Quoted)
            else a.prefix + os.path.join(log_dir, a.name) if isinstance(a, LogFile)
            else a for a in step.argv]


def _run(argv: list[str]) -> int:
    return subprocess.run(argv).returncode


def run_steps(script: Script, log_dir: str, runner=_run, admin_check=None,
              echo=print) -> list[dict]:
    """Run every step in order, stopping at the first exit code not in its ``ok_codes``."""
    if script.needs_admin:
        from ..boot.firmware import is_admin

        if not (admin_check or is_admin)("windows"):
            raise UsageError("this script changes disks and images: run it from an elevated "
                             "(administrator) prompt")
    os.makedirs(log_dir, exist_ok=True)
    results = []
    for n, step in enumerate(script.steps, 1):
        echo(f"[{n}/{len(script.steps)}] {step.key}")
        code = _run_one(step, log_dir, runner)
        results.append({"step": step.key, "returncode": code})
        if code not in step.ok_codes:
            for undo in script.cleanup:
                _run_one(undo, log_dir, runner)
            raise DiskkitError(f"step {step.key} failed with exit code {code}; logs in {log_dir}")
    return results


def _run_one(step: Step, log_dir: str, runner) -> int:
    if step.diskpart is None:
        argv = python_argv(step, log_dir)
    else:
        path = os.path.join(log_dir, f"diskpart-{step.key}.txt")
        encoding = "oem" if sys.platform == "win32" else "utf-8"
        try:  # diskpart reads its script in the console (OEM) code page
            with open(path, "w", encoding=encoding, newline="\r\n") as fh:
                fh.write("\n".join(step.diskpart) + "\n")
        except UnicodeEncodeError:
            raise UsageError(f"step {step.key}: a path cannot be written in the console code "
                             "page for diskpart; move the VHD to a path with ASCII names") from None
        argv = ["diskpart", "/s", path]
    try:
        return runner(argv)
    except OSError as exc:
        raise DiskkitError(f"step {step.key}: cannot run {argv[0]}: {exc}") from None


# -- the deploy script ------------------------------------------------------------------------------

SYSTEM_HIVE = r"HKLM\DISKKIT_SYSTEM"
SOFTWARE_HIVE = r"HKLM\DISKKIT_SOFTWARE"
BOOT_START_SERVICES = ("storahci", "stornvme")


@dataclass
class DeployOptions:
    vhd: str  # as Windows sees it: D:\ramos\win.vhd
    wim: str
    index: int
    chain: str = "grub2-map"
    drivers: str | None = None
    svbus: str | None = None
    windows_letter: str = "V"
    esp_letter: str = "S"
    format: bool = True  # False when the volumes are formatted already (Linux mkntfs/wimapply)
    apply: bool = True  # False when the image was applied already (Linux wimapply)

    def validate(self) -> None:
        chain = ramos_chain(self.chain)
        for what, value in (("--vhd", self.vhd), ("--wim", self.wim), ("--drivers", self.drivers),
                            ("--svbus", self.svbus)):
            if value is not None:
                check_text(value, what)
                if '"' in value:
                    raise UsageError(f"{what} {value!r}: a double quote cannot be in a Windows path")
        if self.index < 1:
            raise UsageError(f"--index {self.index}: image indexes start at 1 "
                             "(list them: dism /Get-WimInfo /WimFile:install.wim)")
        letters = {self.windows_letter.upper(), self.esp_letter.upper()}
        if len(letters) != 2 or not all(len(x) == 1 and "D" <= x <= "Z" for x in letters):
            raise UsageError("drive letters must be two different letters D-Z")
        if chain.ms_ramdisk and self.svbus:
            raise UsageError(f"--svbus: the {self.chain} chain uses Microsoft's ramdisk driver; "
                             "SVBus is for grub2-map and grub4efi")


def _dism(log: str, *args) -> list:
    return ["dism", "/English", LogFile(log, "/LogPath:"), *args]


def _reg_add(key: str, name: str, kind: str, data: str) -> list:
    # empty data must reach reg.exe as an empty argument: "" in cmd, '' in a Python argv
    return ["reg", "add", Quoted(key), "/v", name, "/t", kind, "/d", data or Quoted(""), "/f"]


def deploy_script(opts: DeployOptions) -> Script:
    """attach -> format -> apply -> drivers -> SVBus -> offline registry -> bcdboot -> detach."""
    opts.validate()
    v, s = opts.windows_letter.upper(), opts.esp_letter.upper()
    ramdisk = ramos_chain(opts.chain).vhd_table == "mbr"
    select = f'select vdisk file="{opts.vhd}"'
    attach = [select, "attach vdisk"]
    if ramdisk:  # MBR, one active NTFS partition (ramos init --chain ntloader|bootmgr-ramdisk)
        attach += ["select partition 1"]
        attach += ['format quick fs=ntfs label="Windows"', "active"] if opts.format else []
        attach += [f"assign letter={v}"]
    else:  # GPT: 1 ESP, 2 MSR, 3 Windows (ramos init --chain grub2-map|grub4efi|vhd-native)
        attach += ["select partition 1"]
        attach += ['format quick fs=fat32 label="System"'] if opts.format else []
        attach += [f"assign letter={s}", "select partition 3"]
        attach += ['format quick fs=ntfs label="Windows"'] if opts.format else []
        attach += [f"assign letter={v}"]
    steps = [Step("attach", ["Attach the VHD (Disk Management: Attach VHD) and give its partitions",
                             f"drive letters: Windows {v}:" + ("" if ramdisk else f", its ESP {s}:")
                             + (". Formats them first." if opts.format else ".")],
                  diskpart=attach)]
    if opts.apply:
        steps.append(Step("apply", [
            "Apply the Windows image (what WinNTSetup / DISM++ 'restore' do). /Compact stores",
            "system files compressed (Compact OS): about 2.6 GB less on 64-bit Windows."],
            _dism("dism-apply.log", "/Apply-Image", Quoted(opts.wim, "/ImageFile:"),
                  f"/Index:{opts.index}", f"/ApplyDir:{v}:\\", "/Compact")))
    if opts.drivers:
        steps.append(Step("drivers", [
            "Inject the exported host drivers (DISM++ driver import), every INF under the folder."],
            _dism("dism-drivers.log", f"/Image:{v}:\\", "/Add-Driver",
                  Quoted(opts.drivers, "/Driver:"), "/Recurse")))
    if opts.svbus:
        steps.append(Step("svbus", [
            "Inject SVBus: the driver through which Windows finds the RAM disk the loader made.",
            "/ForceUnsigned: SVBus is not WHQL-signed; offline injection accepts it."],
            _dism("dism-svbus.log", f"/Image:{v}:\\", "/Add-Driver", Quoted(opts.svbus, "/Driver:"),
                  "/Recurse", "/ForceUnsigned")))
    system = SYSTEM_HIVE + r"\ControlSet001"
    steps.append(Step("reg-load-system", [
        "Load the image's SYSTEM hive (offline: ControlSet001 is the current set)."],
        ["reg", "load", SYSTEM_HIVE, Quoted(f"{v}:\\Windows\\System32\\config\\SYSTEM")]))
    for service in BOOT_START_SERVICES:
        key = f"{system}\\Services\\{service}"
        steps.append(Step(f"boot-start-{service}", [
            f"{service} starts with the kernel (Start=0): after moving from the VM to real",
            "hardware the disk controller changes; without this Windows stops with",
            "INACCESSIBLE_BOOT_DEVICE (0x7B)."], _reg_add(key, "Start", "REG_DWORD", "0")))
        steps.append(Step(f"no-override-{service}", [
            "StartOverride (Windows 10+) would put the old start type back; remove it",
            "(exit code 1 just means there was none)."],
            ["reg", "delete", Quoted(f"{key}\\StartOverride"), "/f"], ok_codes=(0, 1)))
    steps += [
        Step("hibernation-off", ["No hibernation: a hiberfil.sys as big as RAM makes no sense in RAM."],
             _reg_add(f"{system}\\Control\\Power", "HibernateEnabled", "REG_DWORD", "0")),
        Step("pagefile-off", ["No pagefile: paging RAM into a RAM disk only wastes both."],
             _reg_add(f"{system}\\Control\\Session Manager\\Memory Management", "PagingFiles",
                      "REG_MULTI_SZ", "")),
        Step("reg-unload-system", ["Write the SYSTEM hive back."], ["reg", "unload", SYSTEM_HIVE]),
        Step("reg-load-software", ["Load the SOFTWARE hive for the System Restore policy."],
             ["reg", "load", SOFTWARE_HIVE, Quoted(f"{v}:\\Windows\\System32\\config\\SOFTWARE")]),
        Step("restore-off", ["System Restore off: its snapshots would only fill the small VHD."],
             _reg_add(f"{SOFTWARE_HIVE}\\Policies\\Microsoft\\Windows NT\\SystemRestore",
                      "DisableSR", "REG_DWORD", "1")),
        Step("reg-unload-software", ["Write the SOFTWARE hive back."],
             ["reg", "unload", SOFTWARE_HIVE]),
    ]
    if ramdisk:
        steps.append(Step("bcdboot", [
            "Boot files inside the VHD's own partition, for tuning it in a BIOS VM. The RAM boot",
            "itself starts from the machine's ESP (diskkit boot config --chain " + opts.chain + ")."],
            ["bcdboot", f"{v}:\\Windows", "/s", f"{v}:", "/f", "BIOS"]))
    else:
        steps.append(Step("bcdboot", [
            "Boot files into the VHD's own ESP: the loader (inner layer) starts",
            "\\EFI\\BOOT\\BOOTX64.EFI from here. The machine's ESP (outer layer) is not touched."],
            ["bcdboot", f"{v}:\\Windows", "/s", f"{s}:", "/f", "UEFI"]))
    detach = Step("detach", ["Detach the VHD: it is ready for a VM or the RAM boot."],
                  diskpart=[select, "detach vdisk"])
    steps.append(detach)
    cleanup = [Step("unload-system", [], ["reg", "unload", SYSTEM_HIVE]),
               Step("unload-software", [], ["reg", "unload", SOFTWARE_HIVE]), detach]
    intro = [f"VHD {opts.vhd}, chain {opts.chain}; made by diskkit ramos script deploy.",
             "Run from an elevated prompt. Each step stops the script if its exit code is not 0.",
             "Undo: the VHD file is all that changes; delete it to start over."]
    return Script("diskkit RAMOS deploy", intro, steps, cleanup)


# -- the extend script (on the host, after diskkit resize) -----------------------------------------

def extend_script(vhd: str, partition: int, with_partition: bool = False) -> Script:
    """Grow the filesystem of ``partition`` (1-based) in ``vhd`` to fill its partition, as Disk
    Management's "Extend Volume" does; ``with_partition``: the partition first takes the free
    space after it (diskpart ``extend``), else only the filesystem grows (``extend
    filesystem``, after ``diskkit resize --grow-part``)."""
    check_text(vhd, "--vhd")
    if '"' in vhd:
        raise UsageError(f"--vhd {vhd!r}: a double quote cannot be in a Windows path")
    if partition < 1:
        raise UsageError(f"--part {partition}: partitions are numbered from 1")
    select = f'select vdisk file="{vhd}"'
    detach = Step("detach", ["Detach the VHD."], diskpart=[select, "detach vdisk"])
    steps = [
        Step("extend", [
            "Attach the VHD and grow the NTFS of partition " + str(partition) + " to fill "
            + ("the free space after it" if with_partition else "its partition") + ".",
            "Windows may check the volume (chkdsk) on its next start."],
            diskpart=[select, "attach vdisk", f"select partition {partition}",
                      "extend" if with_partition else "extend filesystem"]),
        detach,
    ]
    intro = [f"VHD {vhd}, partition {partition}; made by diskkit ramos script extend.",
             "Run from an elevated prompt, with the VHD not attached elsewhere."]
    return Script("diskkit extend NTFS", intro, steps, [detach])


# -- the slim script (inside the VM) ----------------------------------------------------------------

APP_KEEP = ("Store", "DesktopAppInstaller", "VCLibs", "UI.Xaml", "NET.Native", "SecHealthUI",
            "WindowsTerminal", "Notepad", "Calculator", "Photos", "Paint")


# Services that only write in RAM: (step, service, what it is, why it goes); doctor checks them.
SLIM_SERVICES = (
    ("search", "WSearch", "Windows Search", "the indexer rewrites its index in the RAM disk, "
     "lost at every power-off."),
    ("sysmain", "SysMain", "SysMain (Superfetch)", "it caches from a disk that is already RAM."),
)


def slim_script(remove_apps: bool = False) -> Script:
    """Shrink the running Windows (run inside the VM as administrator), biggest wins first."""
    def ps(command: str) -> list:  # a failing cmdlet stops PowerShell with exit code 1
        return ["powershell", "-NoProfile", "-ExecutionPolicy", "Bypass", "-Command",
                Quoted(f"$ErrorActionPreference='Stop'; {command}")]

    steps = [
        Step("hibernation-off", ["Deletes hiberfil.sys (as large as a good part of RAM)."],
             ["powercfg", "/h", "off"]),
        Step("pagefile-off", ["No pagefile: turn off automatic management, then delete the",
                              "pagefile settings; pagefile.sys disappears after a restart."],
             ps("$cs = Get-CimInstance Win32_ComputerSystem; Set-CimInstance -InputObject $cs "
                "-Property @{AutomaticManagedPagefile=$false}; Get-CimInstance "
                "Win32_PageFileSetting | Remove-CimInstance")),
        Step("restore-off", ["System Restore off for the system drive; its restore points removed",
                             "(vssadmin's exit code is ignored: there may be none)."],
             ps("Disable-ComputerRestore -Drive ($env:SystemDrive + '\\'); vssadmin delete "
                "shadows /for=$env:SystemDrive /all /quiet | Out-Null; exit 0")),
        *(Step(f"{key}-off", [f"{what} disabled (from the next start): {why}",
                              "(exit code 1060: the service is not installed in this edition)."],
               ["sc", "config", service, "start=", "disabled"], ok_codes=(0, 1060))
          for key, service, what, why in SLIM_SERVICES),
    ]
    if remove_apps:
        keep = "|".join(APP_KEEP)
        steps.append(Step("remove-apps", [
            "Remove provisioned Store apps (new users will not get them); keeps the Store,",
            f"its runtimes and basics matching: {keep}."],
            ps(f"Get-AppxProvisionedPackage -Online | Where-Object {{ $_.DisplayName -notmatch "
               f"'{keep}' }} | Remove-AppxProvisionedPackage -Online")))
    steps += [
        Step("component-cleanup", [
            "Drop superseded components from WinSxS; /ResetBase makes it final (installed",
            "updates can no longer be uninstalled). 3010 means a restart is wanted."],
            _dism("dism-cleanup.log", "/Online", "/Cleanup-Image", "/StartComponentCleanup",
                  "/ResetBase"), ok_codes=(0, 3010)),
        Step("compact-os", ["Compact OS: system files stored compressed (Microsoft: about 2.6 GB less",
                                "on 64-bit Windows, 1.5 GB on 32-bit)."],
             ["compact", "/CompactOS:always"]),
    ]
    intro = ["Run INSIDE the VM, as administrator, when drivers and programs are installed.",
             "Afterwards: shut down, then capture and re-apply into a smaller fixed VHD",
             "(a fixed VHD does not shrink by itself): see docs/ramos.md."]
    return Script("diskkit RAMOS slim", intro, steps, [])
