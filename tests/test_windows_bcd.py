"""Registry hives and BCD stores: hivex writes them, diskkit reads them, hivex's view is the oracle."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from support import diskkit, need_tool, run
from support import winhives as W

from diskkit.errors import CorruptImage, DiskkitError
from diskkit.windows.bcd import open_store, read_store
from diskkit.windows.bcddevice import Device, DeviceElement, decode_element, encode_element
from diskkit.windows.hive import hive_from_bytes, open_hive
from diskkit.windows.software import SoftwareHive
from diskkit.windows.system import SystemHive

DISK = "0d5b4c3a-2b1a-4c9d-8e7f-60a1b2c3d4e5"
ESP = "1e6c5d4b-3c2b-4dae-9f80-71b2c3d4e5f6"
WIN = "2f7d6e5c-4d3c-4ebf-a091-82c3d4e5f607"
# bcdedit's own bytes for partition=C: on an MBR disk (mistyprojects.co.uk, "Devices Partition
# - Data"): disk signature 0xb3eba8f1, partition at byte 368050176.
BCDEDIT_MBR_PARTITION = bytes(int(x, 16) for x in (
    "00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,06,00,00,00,00,00,00,00,48,00,00,00,"
    "00,00,00,00,00,00,f0,15,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,01,00,00,00,"
    "f1,a8,eb,b3,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,"
    "00,00,00,00").split(","))


@pytest.fixture(scope="module")
def hives(tmp_path_factory):
    d = tmp_path_factory.mktemp("hives")
    return {
        "bcd": W.build_hive(d / "BCD", W.ramos_bcd("gpt", DISK, ESP, WIN)),
        "system": W.build_hive(d / "SYSTEM", W.system_keys(control_set=2, storahci_start=3)),
        "software": W.build_hive(d / "SOFTWARE", W.software_keys(build=22631, ubr=4037)),
        "dir": d,
    }


# -- device elements ------------------------------------------------------------------------------

def test_bcdedit_mbr_partition_bytes():
    element = decode_element(BCDEDIT_MBR_PARTITION)
    assert element.options is None
    assert element.device == Device("partition", "mbr", disk="0xb3eba8f1", offset=368050176)
    assert encode_element(element) == BCDEDIT_MBR_PARTITION


def test_documented_layouts_decode_and_encode_alike():
    gpt = W.partition_element("gpt", DISK, WIN)
    assert decode_element(gpt).device == Device("partition", "gpt", disk=DISK, partition=WIN)
    assert encode_element(decode_element(gpt)) == gpt
    boot = W.boot_element()
    assert decode_element(boot).device.kind == "boot" and encode_element(decode_element(boot)) == boot
    ram = W.ramdisk_element("mbr", 0x1234ABCD, 1048576, "\\ramos\\win.vhd")
    element = decode_element(ram)
    assert element.options == W.RAMDISKOPTIONS
    assert element.device.kind == "ramdisk" and element.device.path == "\\ramos\\win.vhd"
    assert element.device.parent == Device("partition", "mbr", disk="0x1234abcd", offset=1048576)
    assert encode_element(element) == ram
    assert element.to_text() == ("ramdisk=[partition (MBR disk 0x1234abcd, offset 1048576)]"
                                 f"\\ramos\\win.vhd,{W.RAMDISKOPTIONS}")


def test_vhd_device_round_trip():
    element = DeviceElement(Device("vhd", path="\\ramos\\win.vhd",
                                   parent=Device("partition", "gpt", disk=DISK, partition=ESP)))
    data = encode_element(element)
    # the locate descriptor names element 0x12000002 (path) and its parent at +0x1e
    assert data[0x10] == 8 and data[0x24:0x28] == (0x12000002).to_bytes(4, "little")
    assert data[0x28] == 0x1E and data[0x3E] == 6 and data[0x66] == 5
    assert decode_element(data) == element


devices = st.recursive(
    st.one_of(st.just(Device("boot")),
              st.builds(lambda d, p: Device("partition", "gpt", disk=str(d), partition=str(p)),
                        st.uuids(), st.uuids()),
              st.builds(lambda s, o: Device("partition", "mbr", disk=f"0x{s:08x}", offset=o),
                        st.integers(0, 2**32 - 1), st.integers(0, 2**63))),
    lambda inner: st.builds(lambda kind, parent, path: Device(
        kind, path=path, parent=parent, image_offset=0 if kind == "ramdisk" else None),
        st.sampled_from(["ramdisk", "file", "vhd"]),
        inner.filter(lambda d: d.kind in ("boot", "partition")),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                max_size=40)),
    max_leaves=2)


@settings(max_examples=200, deadline=None)
@given(devices, st.one_of(st.none(), st.uuids()))
def test_device_round_trip(device, options):
    element = DeviceElement(device, "{" + str(options) + "}" if options else None)
    assert decode_element(encode_element(element)) == element


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_device_decoder_on_garbage(data):
    try:
        element = decode_element(data)
    except CorruptImage:
        return
    element.to_text(), element.to_dict()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_device_decoder_on_mutations(data):
    seed = bytearray(W.ramdisk_element("gpt", DISK, WIN, "\\a.vhd"))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(seed) - 1))
        seed[at] = data.draw(st.integers(0, 255))
    seed = seed[:data.draw(st.integers(0, len(seed)))]
    try:
        decode_element(bytes(seed)).to_text()
    except CorruptImage as exc:
        assert str(exc)


# -- stores against hivex's raw view ---------------------------------------------------------------

def hivex_export(path) -> dict[str, dict[str, tuple[str, str]]]:
    """hivexregedit's .reg export as {key: {value: (type, data text)}}."""
    text = run("hivexregedit", "--export", path, "\\").stdout
    keys, current = {}, None
    for line in re.sub(r"\\\r?\n\s*", "", text).splitlines():
        if line.startswith("["):
            current = keys.setdefault(line.strip("[]").lstrip("\\").lower(), {})
        elif line.startswith('"') and current is not None:
            name, _, value = line[1:].partition('"=')
            kind, _, data = value.partition(":") if not value.startswith('"') else ("sz", "", value)
            current[name.lower()] = (kind, data)
    return keys


def _hex_bytes(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(",") if x)


def test_bcd_show_agrees_with_hivex(hives):
    need_tool("hivexregedit")
    data = json.loads(diskkit("bcd", "show", hives["bcd"], "--json").stdout)
    raw = hivex_export(hives["bcd"])
    checked = 0
    for obj in data["objects"]:
        for el in obj["elements"]:
            kind, text = raw[f"objects\\{obj['guid']}\\elements\\{el['id']}"]["element"]
            if el["format"] in ("integer", "boolean", "integerlist", "device"):
                assert kind == "hex(3)", el  # REG_BINARY
                blob = _hex_bytes(text)
                assert el["raw"] == blob.hex()
                if el["format"] == "integer":
                    assert el["value"] == int.from_bytes(blob, "little")
                elif el["format"] == "boolean":
                    assert el["value"] == (blob != b"\0")
                elif el["format"] == "device":  # GPT partition: GUIDs at 0x20 and 0x38
                    import uuid
                    assert el["value"]["device"]["partition"] == str(uuid.UUID(bytes_le=blob[0x20:0x30]))
                    assert el["value"]["device"]["disk"] == str(uuid.UUID(bytes_le=blob[0x38:0x48]))
            elif el["format"] == "objectlist":
                assert kind == "hex(7)"
                items = _hex_bytes(text).decode("utf-16-le").split("\0")
                assert el["value"] == [i.lower() for i in items if i]
            else:  # string, object: hivexregedit shows REG_SZ as hex(1)
                assert kind == "hex(1)"
                assert el["value"].lower() == _hex_bytes(text).decode("utf-16-le").rstrip("\0").lower()
            checked += 1
    assert checked == 17


def test_bcd_show_text_and_model(hives):
    out = diskkit("bcd", "show", hives["bcd"]).stdout
    assert "Windows Boot Manager" in out and "identifier              {bootmgr}" in out
    assert f"osdevice                partition (GPT disk {DISK}, partition {WIN})" in out
    store = open_store(hives["bcd"])
    loader = store.default_loader()
    assert loader.guid == W.LOADER and loader.get("systemroot") == "\\Windows"
    assert loader.get("detecthal") is True and loader.get("winpe") is False
    assert store.bootmgr.get("timeout") == 30
    assert store.bootmgr.get("device").device.partition == ESP


def test_bcd_show_finds_the_store_in_an_image(tmp_path, hives):
    need_tool("mcopy")
    image = tmp_path / "win.vhd"
    diskkit("ramos", "init", image, "--size", "200M", "--chain", "grub2-map", "--no-ntfs")
    esp_offset = 1024 * 1024
    target = f"{image}@@{esp_offset}"
    for folder in ("::/EFI", "::/EFI/Microsoft", "::/EFI/Microsoft/Boot"):
        run("mmd", "-i", target, folder)
    run("mcopy", "-i", target, hives["bcd"], "::/EFI/Microsoft/Boot/BCD")
    data = json.loads(diskkit("bcd", "show", image, "--json").stdout)
    assert data["source"].endswith("partition 1 /EFI/Microsoft/Boot/BCD")
    assert {o["guid"] for o in data["objects"]} == {W.BOOTMGR, W.LOADER, W.GLOBALSETTINGS}
    missing = diskkit("bcd", "show", image, "--part", "3", check=False)
    assert missing.returncode == 2 and "no BCD store" in missing.stderr


def test_element_data_that_does_not_fit_is_shown_not_fatal(tmp_path):
    keys = W.bcd_keys({W.LOADER: (0x10200003, {
        0x21000001: b"\x01\x02",                   # device too short
        0x25000020: b"\x01" * 9,                   # integer of 9 bytes
        0x22000002: b"\x00\x01",                   # string stored as binary
        0x26000010: b"",                           # empty boolean
    })})
    path = W.build_hive(tmp_path / "BCD", keys)
    out = diskkit("bcd", "show", path).stdout
    assert out.count("<undecodable") == 4


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not_bcd", "bad_cells"])
def test_hostile_stores_give_one_line(tmp_path, hives, damage):
    good = open(hives["bcd"], "rb").read()
    data = {"garbage": os.urandom(9000), "truncated": good[:4200],
            "not_bcd": open(hives["software"], "rb").read(),
            "bad_cells": good[:4096] + bytes(b ^ 0x5A for b in good[4096:4600]) + good[4600:]}[damage]
    path = tmp_path / "BCD"
    path.write_bytes(data)
    proc = diskkit("bcd", "show", path, check=False)
    assert proc.returncode in (0, 2), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    if proc.returncode == 2:
        assert len(proc.stderr.strip().splitlines()) == 1
    with pytest.raises(CorruptImage) if damage == "not_bcd" else _maybe():
        read_store(hive_from_bytes(data, "BCD"))


class _maybe:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        return kind is None or issubclass(kind, DiskkitError)


# -- SYSTEM and SOFTWARE -----------------------------------------------------------------------------

def test_system_hive_meaning(hives):
    system = SystemHive(open_hive(hives["system"]))
    assert system.control_set == "ControlSet002"  # Select\Current, not the stale set 1
    svbus = system.service("SVBUS")
    assert svbus.boot_start and svbus.group == "SCSI miniport" and svbus.type == 1
    assert svbus.image_path == "\\SystemRoot\\System32\\drivers\\svbus.sys"
    assert system.service("storahci").start_name == "manual"
    assert [s.name for s in system.find_services("storahci.sys")] == ["storahci"]
    assert system.paging_files() == [] and system.hibernate_enabled() is False
    assert system.architecture() == "AMD64"
    # hivexget, an independent reader, sees the same Start values
    for name, service in (("svbus", svbus), ("storahci", system.service("storahci"))):
        got = run("hivexget", hives["system"], f"\\ControlSet002\\Services\\{name}", "Start")
        assert int(got.stdout.strip()) == service.start


def test_start_override_wins(tmp_path):
    keys = W.system_keys(storahci_start=0)
    keys["ControlSet001\\Services\\storahci\\StartOverride"] = {"0": 3}
    system = SystemHive(open_hive(W.build_hive(tmp_path / "SYSTEM", keys)))
    service = system.service("storahci")
    assert service.start == 0 and service.effective_start == 3 and not service.boot_start


def test_software_hive_version(hives):
    software = SoftwareHive(open_hive(hives["software"]))
    version = software.version()
    assert version.build == 22631 and version.ubr == 4037 and version.edition == "Professional"
    assert version.name == "Windows 11 Pro 22H2 (build 22631.4037)"
    assert software.system_restore_disabled()


def test_not_a_system_hive(hives):
    with pytest.raises(CorruptImage, match="not a SYSTEM hive"):
        SystemHive(open_hive(hives["bcd"]))
    with pytest.raises(CorruptImage, match="not a registry hive"):
        open_hive(__file__)


def test_commands_without_hives_do_not_import_regipy(tmp_path):
    code = ("import sys; from diskkit.cli.__main__ import main; "
            "main(['ramos', 'plan', '--vhd-size', '8G', '--ram', '16G', '--json']); "
            "print('REGIPY' if 'regipy' in sys.modules else 'NO-REGIPY', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "NO-REGIPY" in proc.stderr, proc.stderr
