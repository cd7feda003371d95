"""Installing from a PE inside a VM: `--iso` boots the ISO first (QEMU + OVMF judge it), the
VirtualBox and VMware definitions carry it, and `vm qemu --run` falls back from a hardware
accelerator that cannot start a VM to QEMU's emulator."""

import json
import os
import stat
import subprocess
import sys

import pytest

from diskkit.ramos import vm
from support import ENV, diskkit, need_tool, run
from support.uefi import OVMF_CODE, OVMF_VARS, grub_efi, need_ovmf

MARKER = "diskkit-iso-booted-first"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """An ISO whose GRUB prints a marker, and a disk whose own loader prints another."""
    need_tool("grub-mkrescue")
    need_tool("xorriso")
    base = tmp_path_factory.mktemp("media")
    root = base / "iso" / "boot" / "grub"
    root.mkdir(parents=True)
    (root / "grub.cfg").write_text("serial --unit=0 --speed=115200\nterminal_output serial console\n"
                                   f"echo {MARKER}\nhalt\n")
    iso = base / "pe.iso"
    run("grub-mkrescue", "-o", iso, base / "iso", "--modules=serial echo halt")
    loader = grub_efi(str(base / "BOOTX64.EFI"), prefix="/EFI/BOOT", extra_modules=("serial",))
    cfg = base / "grub.cfg"
    cfg.write_text("serial --unit=0 --speed=115200\nterminal_output serial console\n"
                   "echo disk-booted-first\nhalt\n")
    disk = base / "disk.vhd"
    diskkit("esp", "create", disk, "--size", "64M", "--loader", loader, "--removable",
            "--loader-path", "/EFI/BOOT/BOOTX64.EFI", "--config", cfg)
    return iso, disk


def test_qemu_boots_the_iso_before_the_disk(media, tmp_path):
    need_tool("qemu-system-x86_64")
    need_ovmf()
    iso, disk = media
    data = json.loads(diskkit("vm", "qemu", disk, "--iso", iso, "--accel", "tcg", "--memory",
                              "512M", "--ovmf", f"{OVMF_CODE},{OVMF_VARS}", "--json").stdout)
    *setup, qemu = data["commands"]
    for argv in setup:  # the UEFI variable store copy
        assert argv[0] == "cp"
        run(*argv)
    serial = tmp_path / "serial.log"
    qemu = [*qemu, "-display", "none", "-serial", f"file:{serial}", "-no-reboot"]
    subprocess.run(["timeout", "240", *qemu], capture_output=True)
    log = serial.read_text(errors="replace")
    assert MARKER in log and "disk-booted-first" not in log
    assert "ide-cd,drive=cd0,bus=sata.1,bootindex=0" in qemu
    assert "ide-hd,drive=disk0,bus=sata.0,bootindex=1" in qemu


def test_virtualbox_and_vmware_carry_the_iso(media, tmp_path):
    iso, disk = media
    data = json.loads(diskkit("vm", "virtualbox", disk, "--iso", iso, "--json").stdout)
    cmds = [" ".join(c) for c in data["commands"]]
    assert any(f"--port 1 --device 0 --type dvddrive --medium {iso}" in c for c in cmds)
    assert any("--boot1 dvd --boot2 disk" in c for c in cmds)
    assert cmds[-1].startswith("VBoxManage startvm")
    assert ["VBoxManage", "closemedium", "dvd", str(iso)] in data["undo"]

    fixed = tmp_path / "f.vhd"
    diskkit("convert", disk, fixed, "--to", "fixed")
    res = diskkit("vmdk", "wrap", fixed, "--vmx", tmp_path / "f.vmx", "--iso", iso)
    text = (tmp_path / "f.vmx").read_text()
    assert 'sata0:0.fileName = "f.vmdk"' in text  # the disk on AHCI, as in QEMU and VirtualBox
    assert f'sata0:1.fileName = "{iso}"' in text and 'sata0:1.deviceType = "cdrom-image"' in text
    assert 'bios.bootOrder = "cdrom,hdd"' in text and res.returncode == 0
    assert 'ddb.adapterType = "ide"' in (tmp_path / "f.vmdk").read_text()  # VMware's SATA word
    no_vmx = diskkit("vmdk", "wrap", fixed, "--out", tmp_path / "g.vmdk", "--iso", iso,
                     check=False)
    assert no_vmx.returncode == 2 and "--vmx" in no_vmx.stderr
    missing = diskkit("vm", "qemu", disk, "--iso", tmp_path / "none.iso", check=False)
    assert missing.returncode == 2 and "no such ISO file" in missing.stderr


def test_vmdk_pair_is_refused_before_either_is_written(media, tmp_path):
    _, disk = media
    fixed = tmp_path / "f.vhd"
    diskkit("convert", disk, fixed, "--to", "fixed")
    (tmp_path / "f.vmx").write_text("mine")
    res = diskkit("vmdk", "wrap", fixed, "--vmx", tmp_path / "f.vmx", check=False)
    assert res.returncode == 2 and "already exists" in res.stderr
    assert not (tmp_path / "f.vmdk").exists()


FAKE_QEMU = """#!/bin/sh
# a stand-in qemu-system-x86_64: KVM aborts as it does nested under another hypervisor
case " $* " in
  *" -S "*) case " $* " in *" -accel kvm "*)
      echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2; exit 134;; esac
      exit 0;;
esac
echo "$@" >> "$QEMU_LOG"
"""


def test_run_falls_back_to_tcg_when_kvm_cannot_start(tmp_path):
    if sys.platform == "win32":
        pytest.skip("a shell-script stand-in for qemu")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "qemu-system-x86_64"
    fake.write_text(FAKE_QEMU)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    img = tmp_path / "w.vhd"
    diskkit("ramos", "init", img, "--size", "160M", "--chain", "ntloader", "--no-ntfs")
    log = tmp_path / "qemu.log"
    env = {**ENV, "PATH": f"{bindir}:{os.environ['PATH']}", "QEMU_LOG": str(log)}
    proc = subprocess.run([sys.executable, "-m", "diskkit", "vm", "qemu", img, "--run"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "kvm does not work here (qemu-system-x86_64: error: failed to set MSR" in proc.stderr
    assert "using tcg" in proc.stderr
    ran = log.read_text()
    assert "-accel tcg" in ran and "-accel kvm" not in ran
    # an accelerator the user chose is used as given
    argv = ["qemu-system-x86_64", "-accel", "kvm", "-m", "1G"]
    assert vm.choose_accelerator(argv, str(fake), echo=lambda _: None) == argv
