"""`diskkit vm`: exact command lines, and the QEMU one really boots a `ramos init` image."""

import json
import shlex
import subprocess

import pytest

from diskkit.errors import UsageError
from diskkit.units import GiB, MiB
from diskkit.ramos.vm import DiskFacts, qemu_commands, virtualbox_commands, virtualbox_undo
from support import diskkit, need_tool
from support.uefi import ANSI, OVMF_CODE, OVMF_VARS, grub_efi, need_ovmf

OVMF = ("/fw/CODE.fd", "/fw/VARS.fd")


def test_qemu_uefi_command_exact(tmp_path):
    image = str(tmp_path / "win,1.vhd")
    cmds = qemu_commands(DiskFacts(image, "vpc", "uefi"), 4 * GiB, 2, OVMF, platform="linux")
    vars_path = image + ".OVMF_VARS.fd"
    assert cmds[0] == ["cp", "/fw/VARS.fd", vars_path]
    assert cmds[1] == [
        "qemu-system-x86_64", "-machine", "q35", "-accel", "kvm", "-accel", "tcg", "-cpu", "max",
        "-smp", "2", "-m", "4096M",
        "-drive", "if=pflash,format=raw,readonly=on,file=/fw/CODE.fd",
        "-drive", f"if=pflash,format=raw,file={vars_path.replace(',', ',,')}",
        "-device", "ahci,id=sata",
        "-drive", f"id=disk0,if=none,format=vpc,file={image.replace(',', ',,')}",
        "-device", "ide-hd,drive=disk0,bus=sata.0",
        "-nic", "user,model=e1000e", "-usb", "-device", "usb-tablet", "-vga", "std"]
    win = qemu_commands(DiskFacts("w.vhd", "vpc", "uefi"), GiB, 1, OVMF, platform="win32")
    assert win[0][0] == "copy" and win[1][3:7] == ["-accel", "whpx", "-accel", "tcg"]
    bios = qemu_commands(DiskFacts("w.vhd", "vpc", "bios"), GiB, 1, OVMF, platform="linux")
    assert len(bios) == 1 and not any("pflash" in a for a in bios[0])
    with pytest.raises(UsageError):
        qemu_commands(DiskFacts("w.vhd", "vpc", "uefi"), 100 * MiB, 1, OVMF)


def test_virtualbox_commands_exact(tmp_path):
    disk = str(tmp_path / "my win.vhd")
    facts = DiskFacts(disk, "vpc", "uefi")
    assert virtualbox_commands(facts, 6 * GiB, 4) == [
        ["VBoxManage", "createvm", "--name", "my win", "--ostype", "Windows10_64", "--register"],
        ["VBoxManage", "modifyvm", "my win", "--firmware", "efi", "--memory", "6144", "--cpus",
         "4", "--ioapic", "on", "--graphicscontroller", "vboxsvga", "--vram", "128", "--mouse",
         "usbtablet"],
        ["VBoxManage", "storagectl", "my win", "--name", "SATA", "--add", "sata", "--controller",
         "IntelAhci", "--portcount", "1"],
        ["VBoxManage", "storageattach", "my win", "--storagectl", "SATA", "--port", "0",
         "--device", "0", "--type", "hdd", "--medium", disk],
        ["VBoxManage", "startvm", "my win"]]
    assert virtualbox_undo(facts) == [["VBoxManage", "unregistervm", "my win"],
                                      ["VBoxManage", "closemedium", "disk", disk]]
    assert virtualbox_commands(DiskFacts(disk, "vpc", "bios"), GiB, 1, "x")[1][4] == "bios"


def test_cli_detects_firmware(tmp_path):
    gpt, mbr = tmp_path / "g.vhd", tmp_path / "m.vhd"
    diskkit("ramos", "init", gpt, "--size", "140M", "--no-ntfs")
    diskkit("ramos", "init", mbr, "--size", "64M", "--chain", "ntloader", "--no-ntfs")
    g = json.loads(diskkit("vm", "qemu", gpt, "--json").stdout)
    m = json.loads(diskkit("vm", "virtualbox", mbr, "--json").stdout)
    assert (g["firmware"], g["format"], m["firmware"]) == ("uefi", "vpc", "bios")
    assert m["commands"][1][4] == "bios" and m["undo"][0][1] == "unregistervm"
    text = diskkit("vm", "qemu", gpt).stdout.splitlines()
    assert shlex.split(text[-1])[0] == "qemu-system-x86_64"
    assert diskkit("vm", "qemu", tmp_path / "none.vhd", check=False).returncode == 2


def test_qemu_command_boots_the_init_image(tmp_path):
    """The printed QEMU line boots the ESP inside a `ramos init` VHD (GRUB prints a marker)."""
    need_ovmf()
    need_tool("grub-mkimage")
    from diskkit.fat import FatFS
    from diskkit.image import open_image
    from diskkit.part import partition_device

    image = tmp_path / "boot.vhd"
    diskkit("ramos", "init", image, "--size", "140M", "--no-ntfs")
    efi = grub_efi(str(tmp_path / "BOOTX64.EFI"))
    with open_image(str(image), writable=True) as dev:
        fs = FatFS(partition_device(dev, 1))
        fs.mkdir("/EFI/BOOT", parents=True)
        with open(efi, "rb") as fh:
            fs.write_file("/EFI/BOOT/BOOTX64.EFI", fh.read())
        fs.write_file("/EFI/BOOT/grub.cfg", b"echo RAMOS-VM-MARKER\nhalt\n")
    cmds = json.loads(diskkit("vm", "qemu", image, "--memory", "512M", "--cpus", "1",
                              "--ovmf", f"{OVMF_CODE},{OVMF_VARS}", "--accel", "tcg",
                              "--json").stdout)["commands"]
    assert cmds[0][0] == "cp"
    subprocess.run(cmds[0], check=True)
    serial = tmp_path / "serial.log"
    argv = cmds[1] + ["-display", "none", "-monitor", "none", "-serial", f"file:{serial}",
                      "-no-reboot"]
    subprocess.run(["timeout", "120", *argv], capture_output=True)
    log = ANSI.sub("", serial.read_bytes().decode("utf-8", "replace"))
    assert "RAMOS-VM-MARKER" in log


def test_run_copies_and_reports_missing_tools(tmp_path):
    from diskkit.errors import DiskkitError, NotFound
    from diskkit.ramos.vm import run

    src = tmp_path / "a"
    src.write_bytes(b"vars")
    run([["cp", str(src), str(tmp_path / "b")]])
    assert (tmp_path / "b").read_bytes() == b"vars"
    with pytest.raises(NotFound):
        run([["no-such-hypervisor-tool"]])
    with pytest.raises(DiskkitError, match="exit code 1"):
        run([["false"]])
