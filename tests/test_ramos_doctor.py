"""`ramos doctor` on RAMOS images made by other tools: the good one passes, each broken variant
gives exactly its own FAIL/WARN and nothing else changes."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from support import diskkit, need_tool, run
from support import ramos as R
from support import winhives as W

from diskkit.ramos.doctor import FAIL, INFO, PASS, WARN, diagnose

pytestmark = pytest.mark.slow


def doctor(image, **kw):
    return diagnose(image, open_windows=R.open_windows_files(), **kw)


def outcome(doc) -> dict[str, str]:
    return {f"{c.section}.{c.name}": c.status for c in doc.checks}


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    built = R.build_ramos(tmp_path_factory.mktemp("good"))
    built["esp"] = R.outer_esp(tmp_path_factory.mktemp("esp"), "grub2-map", built["image"])
    return built


@pytest.fixture(scope="module")
def baseline(good):
    return outcome(doctor(good["image"], chain="grub2-map", ram=8 << 30, esp=good["esp"]))


def variant(good, tmp_path):
    """A copy of the good image under the same name (the outer config names win.vhd)."""
    image = tmp_path / "win.vhd"
    subprocess.run(["cp", "--sparse=never", good["image"], image], check=True)
    return str(image)


def changed(baseline: dict, doc) -> dict[str, str]:
    now = outcome(doc)
    return {k: v for k, v in now.items() if baseline.get(k) != v}


def test_good_image_has_no_fail(good, baseline):
    fails = [k for k, v in baseline.items() if v == FAIL]
    assert not fails, fails
    for check in ("container.type", "container.ram", "layout.table", "inner.bootx64",
                  "inner.bootmgr", "inner.default", "inner.paths", "windows.dirty",
                  "windows.winload.efi", "windows.ntoskrnl.exe", "drivers.svbus",
                  "drivers.storahci", "ram.pagefile", "ram.hibernation", "ram.restore",
                  "outer.loader", "outer.vhd-path"):
        assert baseline[check] == PASS, check


def test_doctor_reads_what_hivex_wrote(good):
    doc = doctor(good["image"], chain="grub2-map")
    assert doc.facts["windows"]["build"] == 19045 and doc.facts["windows"]["edition"] == "Professional"
    assert doc.facts["windows"]["architecture"] == "AMD64"
    assert doc.facts["default_entry"]["guid"] == W.LOADER


def test_wrong_bcd_partition_guid(good, baseline, tmp_path):
    image = variant(good, tmp_path)
    t = good["table"]
    wrong = W.ramos_bcd("gpt", t["disk_guid"], good["parts"][1]["guid"],
                        "deadbeef-0000-4000-8000-000000000001")  # the build machine's partition
    bcd = W.build_hive(tmp_path / "BCD", wrong)
    run("mcopy", "-o", "-i", R.esp_target(image, good["parts"][1]), bcd, "::/EFI/Microsoft/Boot/BCD")
    doc = doctor(image, chain="grub2-map", ram=8 << 30, esp=good["esp"])
    assert changed(baseline, doc) == {"inner.default": FAIL}
    assert "deadbeef-0000-4000-8000-000000000001" in next(
        c.why for c in doc.checks if c.name == "default")


@pytest.mark.parametrize("keys,expect", [
    (dict(svbus=False), {"drivers.svbus": FAIL}),
    (dict(pagefile=True), {"ram.pagefile": WARN}),
    (dict(storahci_start=3), {"drivers.storahci": WARN}),
], ids=["missing-svbus", "pagefile-on", "storahci-start-3"])
def test_system_hive_variants(good, baseline, tmp_path, keys, expect):
    image = variant(good, tmp_path)
    system = W.build_hive(tmp_path / "SYSTEM", W.system_keys(**keys))
    R.put_in_ntfs(image, good["windows"], system, "/Windows/System32/config/SYSTEM", tmp_path)
    doc = doctor(image, chain="grub2-map", ram=8 << 30, esp=good["esp"])
    assert changed(baseline, doc) == expect


def test_svbus_start_3(good, baseline, tmp_path):
    image = variant(good, tmp_path)
    keys = W.system_keys()
    keys["ControlSet001\\Services\\svbus"]["Start"] = 3
    system = W.build_hive(tmp_path / "SYSTEM", keys)
    R.put_in_ntfs(image, good["windows"], system, "/Windows/System32/config/SYSTEM", tmp_path)
    doc = doctor(image, chain="grub2-map", ram=8 << 30, esp=good["esp"])
    assert changed(baseline, doc) == {"drivers.svbus": FAIL}
    assert "Start=3" in next(c.why for c in doc.checks if c.name == "svbus")


def test_dynamic_vhd(good, baseline, good_ntloader, tmp_path):
    """ntloader reads the file flat: a dynamic VHD FAILs; grub2-map expands it: a WARN."""
    need_tool("qemu-img")
    for built, chain, status in ((good, "grub2-map", WARN), (good_ntloader, "ntloader", FAIL)):
        folder = tmp_path / chain
        folder.mkdir()
        image = str(folder / "win.vhd")
        # force_size: without it qemu-img rounds the disk up to whole CHS cylinders and the
        # backup GPT no longer sits at the end (a problem to sgdisk -v and 'part verify')
        run("qemu-img", "convert", "-f", "vpc", "-O", "vpc", "-o",
            "subformat=dynamic,force_size=on", built["image"], image)
        before = baseline if chain == "grub2-map" else outcome(
            doctor(built["image"], chain=chain, ram=8 << 30, esp=built["esp"]))
        doc = doctor(image, chain=chain, ram=8 << 30, esp=built["esp"])
        diff = changed(before, doc)
        assert diff.pop("container.type") == status, chain
        # qemu-img's dynamic VHD has its own footer geometry; nothing else may FAIL
        assert not {k: v for k, v in diff.items() if v == FAIL}, diff


def test_vhdx_is_refused(good, baseline, tmp_path):
    need_tool("qemu-img")
    image = str(tmp_path / "win.vhd")  # the name the outer config knows; the content is VHDX
    run("qemu-img", "convert", "-f", "vpc", "-O", "vhdx", good["image"], image)
    doc = doctor(image, chain="grub2-map", ram=8 << 30, esp=good["esp"])
    diff = changed(baseline, doc)
    assert diff.pop("container.type") == FAIL
    assert not {k: v for k, v in diff.items() if v == FAIL}, diff


def test_vhd_too_big_for_ram(good, baseline):
    doc = doctor(good["image"], chain="grub2-map", ram=256 << 20, esp=good["esp"])
    assert changed(baseline, doc) == {"container.ram": FAIL}
    doc = doctor(good["image"], chain="grub2-map", ram=2 << 30, esp=good["esp"])
    assert changed(baseline, doc) == {"container.ram": WARN}


def test_missing_bootx64(good, baseline, tmp_path):
    image = variant(good, tmp_path)
    run("mdel", "-i", R.esp_target(image, good["parts"][1]), "::/EFI/BOOT/BOOTX64.EFI")
    doc = doctor(image, chain="grub2-map", ram=8 << 30, esp=good["esp"])
    assert changed(baseline, doc) == {"inner.bootx64": FAIL}


def test_dirty_ntfs(good, baseline, tmp_path):
    image = variant(good, tmp_path)
    R.put_in_ntfs(image, good["windows"], None, None, tmp_path, dirty=True)
    part = tmp_path / "check.ntfs"
    R.extract_partition(image, good["windows"], part)
    assert "Volume Flags: 0x0001" in run("ntfsinfo", "-f", "-m", part).stdout  # ntfs-3g agrees
    doc = doctor(image, chain="grub2-map", ram=8 << 30, esp=good["esp"])
    assert changed(baseline, doc) == {"windows.dirty": FAIL}


def test_outer_config_named_wrong(good, baseline, tmp_path):
    esp = R.outer_esp(tmp_path / "esp", "grub2-map", good["image"], config_name="lt.cfg")
    doc = doctor(good["image"], chain="grub2-map", ram=8 << 30, esp=esp)
    diff = changed(baseline, doc)
    assert diff.pop("outer.config") == FAIL
    assert set(diff) <= {"outer.loader", "outer.vhd-path"}  # not reached without the config
    assert "lt.cfg" in next(c.why for c in doc.checks if c.name == "config")


def test_hwids_storage_controllers(good, baseline, tmp_path):
    hwids = tmp_path / "hwids.txt"
    hwids.write_text("PCI\\VEN_144D&DEV_A808&SUBSYS_A801144D&REV_00\n"
                     "PCI\\VEN_144D&DEV_A808&CC_010802\nPCI\\CC_010802\n"
                     "PCI\\VEN_1B4B&DEV_9230&CC_010601\nPCI\\CC_0106\n")
    doc = doctor(good["image"], chain="grub2-map", ram=8 << 30, esp=good["esp"], hwids=str(hwids))
    diff = changed(baseline, doc)
    assert diff == {"drivers.hwid PCI\\VEN_144D&DEV_A808": PASS,   # stornvme: inbox, boot start
                    "drivers.hwid PCI\\VEN_1B4B&DEV_9230": FAIL}   # AHCI: no INF in the store


@pytest.fixture(scope="module")
def good_ntloader(tmp_path_factory):
    built = R.build_ramos(tmp_path_factory.mktemp("nt"), chain="ntloader", size="200M")
    built["esp"] = R.outer_esp(tmp_path_factory.mktemp("ntesp"), "ntloader", built["image"])
    return built


def test_ntloader_chain(good_ntloader, tmp_path):
    base = outcome(doctor(good_ntloader["image"], chain="ntloader", ram=8 << 30,
                          esp=good_ntloader["esp"]))
    assert not [k for k, v in base.items() if v == FAIL], base
    assert base["outer.esp-files"] == PASS and base["outer.imgofs"] == PASS
    esp = R.outer_esp(tmp_path / "esp", "ntloader", good_ntloader["image"], with_ntloader=False)
    doc = doctor(good_ntloader["image"], chain="ntloader", ram=8 << 30, esp=esp)
    assert changed(base, doc) == {"outer.esp-files": FAIL}


def test_cli_exit_codes_and_json(good, tmp_path):
    proc = diskkit("ramos", "doctor", good["image"], "--chain", "grub2-map", "--json",
                   check=False)
    data = json.loads(proc.stdout)
    assert proc.returncode == (1 if data["counts"]["FAIL"] else 0)
    assert data["chain"] == "grub2-map" and not data["chain_guessed"]
    broken = variant(good, tmp_path)
    run("mdel", "-i", R.esp_target(broken, good["parts"][1]), "::/EFI/BOOT/BOOTX64.EFI")
    proc = diskkit("ramos", "doctor", broken, "--chain", "grub2-map", check=False)
    assert proc.returncode == 1 and "FAIL  no \\EFI\\BOOT\\BOOTX64.EFI" in proc.stdout
    assert "fix: " in proc.stdout
    missing = diskkit("ramos", "doctor", tmp_path / "nothing.vhd", check=False)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_report_in_chinese(good, tmp_path):
    """--lang zh-CN (or DISKKIT_LANG) turns every finding, the fixes' prose and the HTML page
    into Chinese; the JSON keeps the English ids."""
    broken = variant(good, tmp_path)
    run("mdel", "-i", R.esp_target(broken, good["parts"][1]), "::/EFI/BOOT/BOOTX64.EFI")
    args = ["ramos", "doctor", broken, "--chain", "grub2-map", "--ram", "2G", "--esp", good["esp"]]
    en = json.loads(diskkit(*args, "--json", check=False).stdout)
    zh = json.loads(diskkit(*args, "--json", "--lang", "zh-CN", check=False).stdout)
    assert [(c["section"], c["name"], c["status"]) for c in zh["checks"]] == \
        [(c["section"], c["name"], c["status"]) for c in en["checks"]]
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for c_en, c_zh in zip(en["checks"], zh["checks"]):
        if (c_en["section"], c_en["name"]) == ("windows", "version"):
            continue  # the Windows name and edition, as the registry has them
        assert cjk.search(c_zh["why"]) and c_zh["why"] != c_en["why"], c_en
    text = diskkit(*args, "--lang", "zh-CN", "--html", tmp_path / "zh.html", check=False)
    assert text.returncode == 1
    assert "失败  VHD 的 ESP 里没有 \\EFI\\BOOT\\BOOTX64.EFI" in text.stdout
    assert "警告  内存 2 GiB" in text.stdout and "修复：" in text.stdout
    assert "[内层引导（VHD 自己的 ESP 和 BCD）]" in text.stdout
    assert diskkit(*args, check=False, env={"DISKKIT_LANG": "zh-CN"}).stdout == text.stdout
    page = (tmp_path / "zh.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and "两层引导" in page and "项失败" in page
    assert "VHD 的 ESP 里没有" in page and "Boot layers" not in page


def machine_esp(folder, offset: int, in_menu: bool = True) -> str:
    """A machine's ESP whose BCD has a bootmgr-ramdisk entry for \\ramos\\win.vhd, as the
    chain's bcdedit script makes it: its own device options object with the offset."""
    host_disk, host_part = "aaaaaaaa-1111-4222-8333-444444444444", "bbbbbbbb-1111-4222-8333-444444444444"
    options, entry = "{c4b1e0a2-5d3f-4e6a-9b8c-7d6e5f4a3b2c}", "{d5c2f1b3-6e4a-4f7b-8c9d-8e7f6a5b4c3d}"
    ram = W.ramdisk_element("gpt", host_disk, host_part, "\\ramos\\win.vhd", options=options)
    keys = W.bcd_keys({
        W.BOOTMGR: (0x10100002, {0x11000001: W.partition_element("gpt", host_disk, host_part),
                                  0x12000002: "\\EFI\\Microsoft\\Boot\\bootmgfw.efi",
                                  0x24000001: [entry] if in_menu else []}),
        entry: (0x10200003, {0x11000001: ram, 0x21000001: ram, 0x12000004: "RAMOS",
                             0x12000002: "\\Windows\\system32\\winload.efi",
                             0x22000002: "\\Windows"}),
        options: (0x30000000, {0x35000001: W.integer(offset), 0x36000006: W.boolean(False)}),
    })
    boot = os.path.join(str(folder), "EFI", "Microsoft", "Boot")
    os.makedirs(boot)
    W.build_hive(os.path.join(boot, "BCD"), keys)
    os.unlink(os.path.join(boot, "BCD.reg"))
    return str(folder)


def test_bootmgr_ramdisk_machine_bcd(good_ntloader, tmp_path):
    offset = good_ntloader["windows"]["start"]
    good = doctor(good_ntloader["image"], chain="bootmgr-ramdisk", ram=8 << 30,
                  esp=machine_esp(tmp_path / "a", offset))
    base = outcome(good)
    assert base["outer.bcd"] == PASS and base["outer.imgofs"] == PASS
    assert not [k for k, v in base.items() if v == FAIL], base
    wrong = doctor(good_ntloader["image"], chain="bootmgr-ramdisk", ram=8 << 30,
                   esp=machine_esp(tmp_path / "b", 65536))
    assert changed(base, wrong) == {"outer.imgofs": FAIL}
    hidden = doctor(good_ntloader["image"], chain="bootmgr-ramdisk", ram=8 << 30,
                    esp=machine_esp(tmp_path / "c", offset, in_menu=False))
    assert changed(base, hidden) == {"outer.bcd": WARN}


def test_four_gib_through_microsoft_ramdisk(tmp_path):
    """The 0xc00000bb fact from boot/chains.py: ntloader WARNs at 4 GiB, grub4efi does not."""
    image = tmp_path / "big.vhd"
    diskkit("ramos", "init", image, "--size", "4200M", "--chain", "ntloader", "--no-ntfs")
    doc = outcome(diagnose(str(image), chain="ntloader", ram=32 << 30))
    assert doc["container.size"] == WARN
    assert doc["container.host"] == INFO  # FAT32 cannot hold the file: NTFS or exFAT host
    assert "container.size" not in outcome(diagnose(str(image), chain="grub4efi", ram=32 << 30))


def test_bcd_show_reads_boot_bcd_from_ntfs(good_ntloader):
    """MBR images keep \\Boot\\BCD in the NTFS partition (bcdboot /f BIOS): found there."""
    data = json.loads(diskkit("bcd", "show", good_ntloader["image"], "--json").stdout)
    assert data["source"].endswith("partition 1 /Boot/BCD")
    loader = next(o for o in data["objects"] if o["guid"] == W.LOADER)
    device = next(e for e in loader["elements"] if e["name"] == "osdevice")["value"]["device"]
    assert device["table"] == "mbr" and device["offset"] == good_ntloader["windows"]["start"]
