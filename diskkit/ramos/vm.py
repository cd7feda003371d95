"""Boot a RAMOS VHD in a VM for installing and tuning: QEMU or VirtualBox command lines.

Both attach the disk to an AHCI (SATA) controller, the one most real machines use, so the
storahci driver Windows binds in the VM is the one it needs on bare metal. Firmware follows
the image: UEFI (OVMF / VirtualBox EFI) for a GPT disk with an ESP, BIOS for the MBR layout of
the Microsoft ramdisk chains. VMware reads the same file through `diskkit vmdk wrap`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass

from ..errors import DiskkitError, NotFound, UsageError
from ..units import MiB

# (code, vars template) pairs, most common first: Debian/Ubuntu, Fedora, Arch, QEMU's own
OVMF_PAIRS = [
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
    ("/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"),
    ("/usr/share/qemu/edk2-x86_64-code.fd", "/usr/share/qemu/edk2-i386-vars.fd"),
]


@dataclass(frozen=True)
class DiskFacts:
    path: str
    qemu_format: str  # vpc | raw
    firmware: str  # uefi | bios


def inspect_image(path: str) -> DiskFacts:
    """Container and firmware the image wants (UEFI unless it is MBR without an ESP)."""
    from ..image import open_image
    from ..part import read_table, types

    if not os.path.isfile(path):
        raise NotFound(f"{path}: no such image")
    with open_image(path) as dev:
        container = dev.container
        table = read_table(dev)
    firmware = "uefi"
    if table is not None and table.kind == "mbr" and not any(
            types.is_esp(p) for p in table.partitions):
        firmware = "bios"
    return DiskFacts(path, "raw" if container == "raw" else "vpc", firmware)


# Where the Windows installers put the tools when they are not on PATH
WINDOWS_DIRS = {"qemu-system-x86_64": ("qemu",), "VBoxManage": ("Oracle", "VirtualBox")}


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found or sys.platform != "win32" or name not in WINDOWS_DIRS:
        return found
    candidate = os.path.join(os.environ.get("ProgramFiles", r"C:\Program Files"),
                             *WINDOWS_DIRS[name], name + ".exe")
    return candidate if os.path.isfile(candidate) else None


def find_ovmf() -> tuple[str, str] | None:
    pairs = list(OVMF_PAIRS)
    qemu = find_tool("qemu-system-x86_64")
    if qemu:  # QEMU for Windows ships the firmware in share\ beside the executable
        share = os.path.join(os.path.dirname(qemu), "share")
        pairs.append((os.path.join(share, "edk2-x86_64-code.fd"),
                      os.path.join(share, "edk2-i386-vars.fd")))
    for code, template in pairs:
        if os.path.isfile(code) and os.path.isfile(template):
            return code, template
    return None


def _opt(value: str) -> str:
    """A value inside a QEMU ``-drive`` option list, where a comma is written twice."""
    return value.replace(",", ",,")


def _accelerators(platform: str, accel: str | None) -> list[str]:
    """Hardware acceleration first, QEMU's emulator as the fallback it tries next."""
    if accel:
        return ["-accel", accel]
    first = {"win32": "whpx", "darwin": "hvf"}.get(platform, "kvm")
    return ["-accel", first, "-accel", "tcg"]


def qemu_commands(facts: DiskFacts, memory: int, cpus: int, ovmf: tuple[str, str] | None = None,
                  platform: str = sys.platform, accel: str | None = None,
                  iso: str | None = None) -> list[list[str]]:
    """The commands that boot the image: copying the UEFI variable store once, then QEMU.

    ``iso`` (a PE or Windows installer) goes into a CD drive on the same AHCI controller and
    boots first; the disk follows in the boot order."""
    if memory < 256 * MiB or cpus < 1:
        raise UsageError("--memory must be at least 256M and --cpus at least 1")
    cmds = []
    argv = ["qemu-system-x86_64", "-machine", "q35", *_accelerators(platform, accel), "-cpu", "max",
            "-smp", str(cpus), "-m", f"{memory // MiB}M"]
    if facts.firmware == "uefi":
        ovmf = ovmf or find_ovmf()
        if ovmf is None:
            raise NotFound("OVMF UEFI firmware not found: install ovmf (Debian) / edk2-ovmf, "
                           "or pass --ovmf CODE.fd,VARS.fd")
        code, template = ovmf
        vars_path = facts.path + ".OVMF_VARS.fd"  # this VM's boot entries, kept beside the disk
        if not os.path.exists(vars_path):
            cmds.append(["cp" if platform != "win32" else "copy", template, vars_path])
        argv += ["-drive", f"if=pflash,format=raw,readonly=on,file={_opt(code)}",
                 "-drive", f"if=pflash,format=raw,file={_opt(vars_path)}"]
    disk_boot = ",bootindex=1" if iso else ""
    argv += ["-device", "ahci,id=sata",
             "-drive", f"id=disk0,if=none,format={facts.qemu_format},file={_opt(facts.path)}",
             "-device", f"ide-hd,drive=disk0,bus=sata.0{disk_boot}"]
    if iso:
        argv += ["-drive", f"id=cd0,if=none,media=cdrom,readonly=on,file={_opt(iso)}",
                 "-device", "ide-cd,drive=cd0,bus=sata.1,bootindex=0"]
    argv += ["-nic", "user,model=e1000e", "-usb", "-device", "usb-tablet", "-vga", "std"]
    cmds.append(argv)
    return cmds


def virtualbox_commands(facts: DiskFacts, memory: int, cpus: int,
                        name: str | None = None, iso: str | None = None) -> list[list[str]]:
    """VBoxManage: create and register a VM with the VHD on SATA, EFI on for GPT images;
    ``iso`` in a DVD drive on the same controller, booted first."""
    if memory < 256 * MiB or cpus < 1:
        raise UsageError("--memory must be at least 256M and --cpus at least 1")
    name = name or os.path.splitext(os.path.basename(facts.path))[0]
    disk = os.path.abspath(facts.path)
    dvd = [["VBoxManage", "storageattach", name, "--storagectl", "SATA", "--port", "1",
            "--device", "0", "--type", "dvddrive", "--medium", os.path.abspath(iso)],
           ["VBoxManage", "modifyvm", name, "--boot1", "dvd", "--boot2", "disk"]] if iso else []
    return [
        ["VBoxManage", "createvm", "--name", name, "--ostype", "Windows10_64", "--register"],
        ["VBoxManage", "modifyvm", name, "--firmware", "efi" if facts.firmware == "uefi" else "bios",
         "--memory", str(memory // MiB), "--cpus", str(cpus), "--ioapic", "on",
         "--graphicscontroller", "vboxsvga", "--vram", "128", "--mouse", "usbtablet"],
        ["VBoxManage", "storagectl", name, "--name", "SATA", "--add", "sata",
         "--controller", "IntelAhci", "--portcount", "2" if iso else "1"],
        ["VBoxManage", "storageattach", name, "--storagectl", "SATA", "--port", "0",
         "--device", "0", "--type", "hdd", "--medium", disk],
        *dvd,
        ["VBoxManage", "startvm", name],
    ]


def virtualbox_undo(facts: DiskFacts, name: str | None = None,
                    iso: str | None = None) -> list[list[str]]:
    """Remove the VM and forget the disk (and ISO), leaving the files themselves untouched."""
    name = name or os.path.splitext(os.path.basename(facts.path))[0]
    return [["VBoxManage", "unregistervm", name],
            ["VBoxManage", "closemedium", "disk", os.path.abspath(facts.path)],
            *([["VBoxManage", "closemedium", "dvd", os.path.abspath(iso)]] if iso else [])]


def format_commands(cmds: list[list[str]], platform: str = sys.platform) -> str:
    if platform == "win32":
        return "\n".join(subprocess.list2cmdline(c) for c in cmds)
    return "\n".join(shlex.join(c) for c in cmds)


def accelerator_works(qemu: str, accel: str) -> str | None:
    """None if QEMU starts a paused VM with ``accel``; else why not (QEMU's own last line).

    /dev/kvm can exist and still fail: nested under another hypervisor, QEMU aborts at the
    first CPU reset ("failed to set MSR ..."), which a paused start already shows.
    """
    try:
        proc = subprocess.run([qemu, "-machine", "q35", "-accel", accel, "-cpu", "max", "-m", "64",
                               "-S", "-nodefaults", "-display", "none", "-monitor", "stdio"],
                              input="quit\n", capture_output=True, text=True, timeout=60,
                              errors="replace")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {proc.returncode}"


def choose_accelerator(argv: list[str], qemu: str, echo=print) -> list[str]:
    """``argv`` with its hardware accelerator kept only if it works, else QEMU's emulator."""
    accels = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-accel"]
    if len(accels) < 2 or accels[-1] != "tcg":
        return argv  # the user chose one with --accel
    problem = accelerator_works(qemu, accels[0])
    if problem is None:
        return argv
    echo(f"note: {accels[0]} does not work here ({problem}); using tcg, QEMU's emulator: "
         "much slower, fine for installing and tuning")
    kept, skip = [], False
    for i, word in enumerate(argv):
        if skip:
            skip = False
        elif word == "-accel" and argv[i + 1] != "tcg":
            skip = True
        else:
            kept.append(word)
    return kept


def run(cmds: list[list[str]], echo=print) -> None:
    """Run each command, stopping at the first non-zero exit code."""
    for argv in cmds:
        if argv[0] in ("cp", "copy"):
            shutil.copyfile(argv[1], argv[2])
            continue
        exe = find_tool(argv[0])
        if exe is None:
            raise NotFound(f"{argv[0]}: not found on PATH (install QEMU or VirtualBox)")
        if argv[0] == "qemu-system-x86_64":
            argv = choose_accelerator(argv, exe, echo)
        code = subprocess.run([exe, *argv[1:]]).returncode
        if code != 0:
            raise DiskkitError(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} failed "
                               f"(exit code {code})")


def ovmf_arg(text: str) -> tuple[str, str]:
    code, _, template = text.partition(",")
    if not code or not template:
        raise UsageError("--ovmf takes CODE.fd,VARS.fd")
    return code, template


__all__ = ["DiskFacts", "inspect_image", "find_ovmf", "qemu_commands", "virtualbox_commands",
           "virtualbox_undo", "format_commands", "run", "ovmf_arg"]
