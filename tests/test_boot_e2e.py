"""End to end under QEMU + OVMF + Debian GRUB: what diskkit lays out really boots.

Boots (each ~5-15 s): loopback marker, chainload from inside the payload, and the removable
path of ``esp create`` images on FAT16 and FAT32. Offsets are checked against sgdisk/sfdisk.
"""

from __future__ import annotations

import json
import re

import pytest

from support import diskkit, need_tool, run
from support.boot import outer_disk, payload_vhd
from support.uefi import boot_uefi

pytestmark = pytest.mark.slow

MARKER = "diskkit-payload-marker-7f3a"
INNER_MARKER = "diskkit-inner-efi-marker-51c9"
INSTALLED_MARKER = "diskkit-installed-windows-stand-in-c04e"
# A path with a space and an apostrophe: the generated grub.cfg must quote it right.
VHD_PATH = "/ram os/it's win.vhd"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """payload.vhd (GPT: ESP with an EFI binary that prints INNER_MARKER, Windows partition
    with MARKER) inside the FAT32 data partition of outer.img, whose ESP is left to the tests."""
    need_tool("grub-mkimage")
    work = tmp_path_factory.mktemp("bootrig")
    payload = str(work / "payload.vhd")
    parts = payload_vhd(payload, MARKER)
    # The inner EFI binary: GRUB with an embedded config (it cannot read its own prefix from a
    # loopback device once chainloaded), built by the oracle tool directly.
    inner = _marker_efi(work, "inner", INNER_MARKER)
    diskkit("esp", "build", payload, "--part", parts["esp"], "--loader", inner,
            "--loader-path", r"\EFI\BOOT\BOOTX64.EFI")
    outer = str(work / "outer.img")
    outer_disk(outer, payload, VHD_PATH)
    # Stands in for the installed Windows' boot manager on the outer ESP.
    diskkit("esp", "build", outer, "--loader", _marker_efi(work, "bootmgfw", INSTALLED_MARKER),
            "--loader-path", r"\EFI\Microsoft\Boot\bootmgfw.efi")
    return {"work": work, "payload": payload, "outer": outer, **parts}


def _marker_efi(work, name: str, marker: str) -> str:
    """A GRUB EFI binary whose embedded config prints ``marker`` and powers off."""
    early = work / f"{name}.cfg"
    early.write_text(f"echo {marker}\nhalt\n")
    out = str(work / f"{name}.efi")
    run("grub-mkimage", "-O", "x86_64-efi", "-p", "/EFI/BOOT", "-c", early, "-o", out,
        "echo", "halt", "normal", "configfile")
    return out


def _boot_with_config(rig, name: str, *config_args) -> str:
    work = rig["work"]
    cfg = str(work / f"{name}.cfg")
    diskkit("boot", "config", "--chain", "loopback-test", "--vhd", rig["payload"],
            "--vhd-path", VHD_PATH, "--title", "Test's $menu", "--timeout", "0", "--halt",
            "--out", cfg, "--force", *config_args)
    assert run(need_tool("grub-script-check"), cfg).returncode == 0
    # Config named grub.cfg beside the loader; the GRUB binary is built by --grub-mkimage.
    final = work / name / "grub.cfg"
    final.parent.mkdir(exist_ok=True)
    final.write_bytes(open(cfg, "rb").read())
    diskkit("esp", "build", rig["outer"], "--grub-mkimage", "--chain", "loopback-test",
            "--loader-path", r"\EFI\BOOT\BOOTX64.EFI", "--config", final)
    bootdir = work / f"boot-{name}"
    bootdir.mkdir(exist_ok=True)
    return boot_uefi(rig["outer"], "raw", str(bootdir), timeout=90)


def test_grub_finds_payload_by_file_search_and_reads_marker_through_loopback(rig):
    log = _boot_with_config(rig, "check", "--check-file", "/marker.txt")
    assert MARKER in log, log[-3000:]
    assert "diskkit-loopback-done" in log
    # GRUB itself shows the hostile title literally: the quoting means what we meant.
    assert "Booting `Test's $menu: check the VHD with loopback'" in log


def test_grub_chainloads_an_efi_binary_from_inside_the_payload(rig):
    log = _boot_with_config(rig, "chain", "--default", "1")
    assert INNER_MARKER in log, log[-3000:]


def test_installed_windows_entry_chainloads_bootmgfw_found_by_search(rig):
    log = _boot_with_config(rig, "installed", "--default", "2")
    assert "Booting `Windows (installed on this PC)'" in log, log[-3000:]
    assert INSTALLED_MARKER in log, log[-3000:]


def _sgdisk_partition(image: str, index: int) -> dict:
    out = run("sgdisk", "-i", index, image).stdout
    first = int(re.search(r"First sector: (\d+)", out).group(1))
    guid = re.search(r"Partition unique GUID: ([0-9A-F-]+)", out).group(1).lower()
    return {"first": first, "guid": guid}


def test_ntloader_and_bcd_offsets_match_sgdisk_and_sfdisk(rig):
    payload, win = rig["payload"], rig["windows"]
    ref = _sgdisk_partition(payload, win)
    sector = 512
    sf = json.loads(run("sfdisk", "--json", payload).stdout)["partitiontable"]
    sf_part = sf["partitions"][win - 1]
    assert sf_part["start"] == ref["first"]
    offset = ref["first"] * sector
    ntl = json.loads(diskkit("boot", "config", "--chain", "ntloader", "--vhd", payload,
                             "--vhd-path", "/ramos/win.vhd", "--json").stdout)
    assert ntl["facts"]["windows_offset"] == offset
    assert ntl["facts"]["windows_index"] == win
    assert ntl["facts"]["windows_guid"] == ref["guid"] == sf_part["uuid"].lower()
    assert ntl["facts"]["disk_guid"] == sf["id"].lower()
    assert ntl["facts"]["container"] == "fixed"
    assert re.findall(r"imgofs=(\d+)", ntl["text"]) == [str(offset)]
    assert run(need_tool("grub-script-check"), _write(rig, "ntl.cfg", ntl["text"])).returncode == 0
    bcd = diskkit("boot", "config", "--chain", "bootmgr-ramdisk", "--vhd", payload,
                  "--vhd-path", r"D:\ramos\win.vhd").stdout
    assert re.findall(r"ramdiskimageoffset (\d+)", bcd) == [str(offset)]


def _write(rig, name, text):
    path = rig["work"] / name
    path.write_text(text)
    return path


def test_config_refuses_dynamic_vhd_and_cli_errors_are_one_line(rig, tmp_path):
    from diskkit.image import open_image
    from diskkit.part import add_partition, init_gpt

    dyn = str(tmp_path / "dyn.vhd")
    diskkit("vhd", "create", dyn, "--size", "16M", "--type", "dynamic")
    with open_image(dyn, writable=True) as dev:
        init_gpt(dev)
        add_partition(dev, "windows", None)
    proc = diskkit("boot", "config", "--chain", "ntloader", "--vhd", dyn, "--vhd-path",
                   "/r/w.vhd", check=False)
    assert proc.returncode == 2 and "fixed" in proc.stderr and len(proc.stderr.splitlines()) == 1
    proc = diskkit("boot", "config", "--chain", "grub2-map", "--vhd", rig["payload"],
                   "--vhd-path", "/r/w.vhd", "--part", "9", check=False)
    assert proc.returncode == 2 and "partition 9" in proc.stderr


@pytest.mark.parametrize("fat,size", [(16, "64M"), (32, "300M")])
def test_ovmf_boots_removable_path_of_esp_create(tmp_path, fat, size):
    need_tool("grub-mkimage")
    marker = f"diskkit-esp-create-fat{fat}-ok"
    cfg = tmp_path / "grub.cfg"
    cfg.write_text(f"echo {marker}\nhalt\n")
    loader = str(tmp_path / "BOOTX64.EFI")
    run("grub-mkimage", "-O", "x86_64-efi", "-p", "/EFI/BOOT", "-o", loader,
        "part_gpt", "fat", "normal", "configfile", "echo", "halt")
    image = str(tmp_path / f"esp{fat}.vhd")
    args = ["esp", "create", image, "--size", size, "--loader", loader, "--removable",
            "--loader-path", r"\EFI\ramos\grubx64.efi", "--config", cfg]
    if fat == 32:
        args += ["--fat", "32"]
    diskkit(*args)
    # Oracles: qemu-img sees the fixed VHD's full size, sgdisk one ESP, mtools the FAT type.
    info = json.loads(run("qemu-img", "info", "-f", "vpc", "--output=json", image).stdout)
    assert info["virtual-size"] == int(size[:-1]) << 20
    sg = run("sgdisk", "-p", image).stdout
    assert re.search(r"^\s+1\s+2048\s+\d+\s+.*EF00", sg, re.M), sg
    minfo = run("minfo", "-i", f"{image}@@1M", "::").stdout
    assert f"FAT{fat}" in minfo.replace(" ", "") or (fat == 16 and "FAT16" in minfo)
    listing = run("mdir", "-i", f"{image}@@1M", "-b", "-/", "::/EFI").stdout.upper()
    assert "::/EFI/BOOT/BOOTX64.EFI" in listing and "::/EFI/RAMOS/GRUBX64.EFI" in listing
    log = boot_uefi(image, "vpc", str(tmp_path), timeout=90)
    assert marker in log, log[-3000:]
