"""Registry hives for tests, written by hivex (hivexregedit --merge), never by diskkit.

hivex cannot create a hive from nothing, so ``empty_hive`` lays down the smallest valid one
(base block, one hbin, a root key and its security cell, per the REGF format) and hivex
merges .reg text into it; hivex refuses anything malformed, so the result is hivex's own.
BCD stores are laid out as bcdedit lays them out: ``Objects\\{GUID}\\Description\\Type``
and ``Objects\\{GUID}\\Elements\\<id>\\Element``. Device elements are packed here at the
offsets the format documentation gives (see diskkit/windows/bcddevice.py), independently
of diskkit's encoder.
"""

from __future__ import annotations

import struct
import uuid

from support import need_tool, run

BOOTMGR = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}"
RAMDISKOPTIONS = "{ae5534e0-a924-466c-b836-758539a3ee3a}"
GLOBALSETTINGS = "{7ea2e1ac-2e61-4728-aaa3-896d9d0a9f0e}"
LOADER = "{4f3b1b8e-2b6a-4a53-9d1c-5b2e8f1a7c11}"


def empty_hive(root: str = "ROOT") -> bytes:
    bins = bytearray(4096)
    bins[0:32] = b"hbin" + struct.pack("<IIQQI", 0, 4096, 0, 0, 0)
    nk_at, sk_at = 0x20, 0x20 + 88
    name = root.encode("ascii")
    nk = struct.pack("<2sHQIIIIIIIIIIIIIIIHH", b"nk", 0x2C, 0, 0, 0, 0, 0, 0xFFFFFFFF,
                     0xFFFFFFFF, 0, 0xFFFFFFFF, sk_at, 0xFFFFFFFF, 0, 0, 0, 0, 0, len(name), 0)
    cell = struct.pack("<i", -88) + nk + name
    bins[nk_at:nk_at + len(cell)] = cell
    descriptor = struct.pack("<BBHIIII", 1, 0, 0x8000, 0, 0, 0, 0)  # self-relative, empty
    sk = struct.pack("<2sHIIII", b"sk", 0, sk_at, sk_at, 1, len(descriptor)) + descriptor
    size = (4 + len(sk) + 7) // 8 * 8
    bins[sk_at:sk_at + 4 + len(sk)] = struct.pack("<i", -size) + sk
    free_at = sk_at + size
    bins[free_at:free_at + 4] = struct.pack("<i", 4096 - free_at)
    base = bytearray(4096)
    struct.pack_into("<4sIIQIIIIII", base, 0, b"regf", 1, 1, 0, 1, 3, 0, 1, nk_at, 4096)
    struct.pack_into("<I", base, 44, 1)
    checksum = 0
    for (word,) in struct.iter_unpack("<I", bytes(base[:508])):
        checksum ^= word
    struct.pack_into("<I", base, 508, checksum)
    return bytes(base + bins)


class Expand(str):
    """A REG_EXPAND_SZ value."""


def _hex(data: bytes) -> str:
    return ",".join(f"{b:02x}" for b in data)


def _reg_value(value) -> str:
    if isinstance(value, bool):
        raise TypeError("give registry booleans as bytes")
    if isinstance(value, int):
        return f"dword:{value:08x}"
    if isinstance(value, Expand):
        return "hex(2):" + _hex(value.encode("utf-16-le") + b"\0\0")
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "hex(7):" + _hex(b"".join(s.encode("utf-16-le") + b"\0\0" for s in value) + b"\0\0")
    if isinstance(value, bytes):
        return "hex:" + _hex(value)
    raise TypeError(type(value))


def reg_text(keys: dict[str, dict]) -> str:
    """.reg text for ``{key path: {value name: value}}``, parents declared first."""
    all_keys = set()
    for path in keys:
        parts = path.strip("\\").split("\\")
        for i in range(1, len(parts) + 1):
            all_keys.add("\\".join(parts[:i]))
    lines = ["Windows Registry Editor Version 5.00", ""]
    for path in sorted(all_keys, key=lambda p: (p.count("\\"), p.lower())):
        lines.append(f"[\\{path}]")
        for name, value in keys.get(path, keys.get("\\" + path, {})).items():
            lines.append(f'"{name}"={_reg_value(value)}')
        lines.append("")
    return "\r\n".join(lines)


def build_hive(path: str, keys: dict[str, dict]) -> str:
    """Write a hive at ``path`` holding ``keys``, merged by hivexregedit."""
    need_tool("hivexregedit")
    with open(path, "wb") as fh:
        fh.write(empty_hive())
    reg = str(path) + ".reg"
    with open(reg, "w", encoding="utf-8", newline="") as fh:
        fh.write(reg_text(keys))
    run("hivexregedit", "--merge", path, reg)
    return str(path)


# -- SYSTEM and SOFTWARE ------------------------------------------------------------------------

def system_keys(svbus: bool = True, storahci_start: int = 0, stornvme_start: int = 0,
                pagefile: bool = False, hibernate: bool = False, wsearch_start: int = 4,
                control_set: int = 1, extra_services: dict | None = None) -> dict:
    cs = f"ControlSet{control_set:03d}"
    keys = {
        "Select": {"Current": control_set, "Default": control_set, "LastKnownGood": 2},
        f"{cs}\\Control\\Session Manager\\Memory Management":
            {"PagingFiles": ["?:\\pagefile.sys"] if pagefile else []},
        f"{cs}\\Control\\Power": {"HibernateEnabled": 1 if hibernate else 0},
        f"{cs}\\Control\\Session Manager\\Environment": {"PROCESSOR_ARCHITECTURE": "AMD64"},
        f"{cs}\\Services\\storahci": {"Start": storahci_start, "Type": 1, "ErrorControl": 3,
                                      "ImagePath": Expand("System32\\drivers\\storahci.sys"),
                                      "Group": "SCSI Miniport"},
        f"{cs}\\Services\\stornvme": {"Start": stornvme_start, "Type": 1,
                                      "ImagePath": Expand("System32\\drivers\\stornvme.sys"),
                                      "Group": "SCSI Miniport"},
        f"{cs}\\Services\\WSearch": {"Start": wsearch_start, "Type": 16,
                                     "ImagePath": Expand("%systemroot%\\system32\\SearchIndexer.exe /Embedding")},
    }
    if control_set != 1:  # a stale set 1 that must not be read
        keys["ControlSet001\\Services\\svbus"] = {"Start": 3}
    if svbus:
        keys[f"{cs}\\Services\\svbus"] = {"Start": 0, "Type": 1, "ErrorControl": 1,
                                          "ImagePath": Expand("\\SystemRoot\\System32\\drivers\\svbus.sys"),
                                          "Group": "SCSI miniport"}
    for name, values in (extra_services or {}).items():
        keys[f"{cs}\\Services\\{name}"] = values
    return keys


def software_keys(build: int = 19045, ubr: int = 3803, edition: str = "Professional",
                  product: str = "Windows 10 Pro", display: str = "22H2",
                  restore_off: bool = True) -> dict:
    keys = {"Microsoft\\Windows NT\\CurrentVersion": {
        "ProductName": product, "EditionID": edition, "CurrentBuild": str(build),
        "CurrentBuildNumber": str(build), "UBR": ubr, "DisplayVersion": display,
        "CurrentMajorVersionNumber": 10, "CurrentMinorVersionNumber": 0,
        "InstallationType": "Client"}}
    if restore_off:
        keys["Policies\\Microsoft\\Windows NT\\SystemRestore"] = {"DisableSR": 1}
    return keys


# -- BCD ------------------------------------------------------------------------------------------

def guid_le(text: str) -> bytes:
    return uuid.UUID(text.strip("{}")).bytes_le


def partition_descriptor(table: str, disk, part) -> bytes:
    """A 0x48-byte partition descriptor: type 6, size 0x48, then partition id at +0x10,
    style at +0x24 (0 GPT, 1 MBR), disk id at +0x28 (mistyprojects' bcdedit dumps)."""
    d = bytearray(0x48)
    struct.pack_into("<III", d, 0, 6, 0, 0x48)
    if table == "gpt":
        d[0x10:0x20] = guid_le(part)
        d[0x28:0x38] = guid_le(disk)
    else:
        struct.pack_into("<Q", d, 0x10, part)  # byte offset of the partition
        struct.pack_into("<I", d, 0x24, 1)
        struct.pack_into("<I", d, 0x28, disk)  # MBR disk signature
    return bytes(d)


def partition_element(table: str, disk, part) -> bytes:
    return bytes(16) + partition_descriptor(table, disk, part)


def boot_element() -> bytes:
    d = bytearray(16 + 0x48)
    struct.pack_into("<III", d, 16, 5, 0, 0x48)
    return bytes(d)


def ramdisk_element(table: str, disk, part, path: str, options: str = RAMDISKOPTIONS) -> bytes:
    """ramdisk=[partition]path,{options}: block device (type 0, flags 1) of block type 3
    (ramdisk) at 0x20, file reference at 0x38 (version 1, length, type 5), the partition
    descriptor at 0x44 and the UTF-16 path after it (the layout ntloader's bcd.c writes)."""
    tail = partition_descriptor(table, disk, part) + path.encode("utf-16-le") + b"\0\0"
    d = bytearray(0x44) + tail
    d[0:16] = guid_le(options)
    struct.pack_into("<III", d, 0x10, 0, 1, len(d) - 0x10)
    struct.pack_into("<I", d, 0x20, 3)
    struct.pack_into("<III", d, 0x38, 1, len(d) - 0x38, 5)
    return bytes(d)


def integer(value: int) -> bytes:
    return value.to_bytes(8, "little")


def boolean(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def bcd_keys(objects: dict[str, tuple[int, dict[int, object]]]) -> dict:
    """``{guid: (type, {element id: value})}`` -> the hive's keys, as bcdedit writes them."""
    keys = {"Description": {"KeyName": "BCD00000000", "System": 1, "TreatAsSystem": 1}}
    for guid, (type_code, elements) in objects.items():
        keys[f"Objects\\{guid}\\Description"] = {"Type": type_code}
        for element_id, value in elements.items():
            keys[f"Objects\\{guid}\\Elements\\{element_id:08X}"] = {"Element": value}
    return keys


def ramos_bcd(table: str, disk, esp_part, win_part, loader: str = LOADER) -> dict:
    """{bootmgr} on the ESP and one Windows loader on the Windows partition, as
    ``bcdboot V:\\Windows /s S: /f UEFI`` writes them for a GPT VHD."""
    esp = partition_element(table, disk, esp_part)
    win = partition_element(table, disk, win_part)
    return bcd_keys({
        BOOTMGR: (0x10100002, {
            0x11000001: esp, 0x12000002: "\\EFI\\Microsoft\\Boot\\bootmgfw.efi",
            0x12000004: "Windows Boot Manager", 0x12000005: "en-US",
            0x14000006: [GLOBALSETTINGS], 0x23000003: loader, 0x24000001: [loader],
            0x25000004: integer(30)}),
        loader: (0x10200003, {
            0x11000001: win, 0x12000002: "\\Windows\\system32\\winload.efi",
            0x12000004: "Windows 10", 0x21000001: win, 0x22000002: "\\Windows",
            0x26000010: boolean(True), 0x26000022: boolean(False),
            0x250000c2: integer(0)}),
        GLOBALSETTINGS: (0x20100000, {0x12000005: "en-US"}),
    })
