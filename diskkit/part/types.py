"""Partition type registries: GPT type GUIDs and MBR type codes, with names and short aliases.

Users type ``esp`` or ``windows``; the disk stores a GUID (GPT) or one byte (MBR). Any GUID,
any sgdisk-style 4-hex code (``ef00``) and any MBR byte (``0x0c``) are accepted too.
"""

from __future__ import annotations

import re

from ..errors import UsageError
from ..guid import is_guid, normalize as normalize_guid

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"

# (GUID, display name, aliases (first is canonical), sgdisk code)
_GPT_TYPES = [
    ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI system partition", ("esp", "efi"), 0xEF00),
    ("e3c9e316-0b5c-4db8-817d-f92df00215ae", "Microsoft reserved", ("msr",), 0x0C01),
    ("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "Microsoft basic data",
     ("windows", "basic-data", "msdata", "ntfs", "fat", "exfat"), 0x0700),
    ("de94bba4-06d1-4d40-a16a-bfd50179d6ac", "Windows recovery environment", ("recovery", "winre"),
     0x2700),
    ("5808c8aa-7e8f-42e0-85d2-e1e90434cfb3", "Windows LDM metadata", ("ldm-metadata",), 0x4201),
    ("af9b60a0-1431-4f62-bc68-3311714a69ad", "Windows LDM data", ("ldm-data",), 0x4200),
    ("e75caf8f-f680-4cee-afa3-b001e56efc2d", "Windows storage spaces", ("storage-spaces",), 0x4202),
    ("0fc63daf-8483-4772-8e79-3d69d8477de4", "Linux filesystem", ("linux", "linux-data"), 0x8300),
    ("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "Linux swap", ("linux-swap", "swap"), 0x8200),
    ("933ac7e1-2eb4-4f13-b844-0e14e2aef915", "Linux /home", ("linux-home", "home"), 0x8302),
    ("4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "Linux root (x86-64)", ("linux-root-x86-64", "root"),
     0x8304),
    ("b921b045-1df0-41c3-af44-4c6f280d3fae", "Linux root (ARM64)", ("linux-root-arm64",), 0x8305),
    ("bc13c2ff-59e6-4262-a352-b275fd6f7172", "Linux extended boot", ("xbootldr",), 0xEA00),
    ("e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM", ("linux-lvm", "lvm"), 0x8E00),
    ("a19d880f-05fc-4d3b-a006-743f0f84911e", "Linux RAID", ("linux-raid", "raid"), 0xFD00),
    ("ca7d7ccb-63ed-4c53-861c-1742536059cc", "Linux LUKS", ("linux-luks", "luks"), 0x8309),
    ("21686148-6449-6e6f-744e-656564454649", "BIOS boot partition", ("bios-boot", "bios"), 0xEF02),
    ("48465300-0000-11aa-aa11-00306543ecac", "Apple HFS+", ("apple-hfs", "hfs"), 0xAF00),
    ("7c3457ef-0000-11aa-aa11-00306543ecac", "Apple APFS", ("apple-apfs", "apfs"), 0xAF0A),
    ("516e7cb4-6ecf-11d6-8ff8-00022d09712b", "FreeBSD data", ("freebsd",), 0xA503),
]

_GPT_BY_GUID = {guid: (name, aliases) for guid, name, aliases, _ in _GPT_TYPES}
_GPT_BY_ALIAS = {alias: guid for guid, _, aliases, _ in _GPT_TYPES for alias in aliases}
_GPT_BY_CODE = {code: guid for guid, _, _, code in _GPT_TYPES}

# (code, display name, aliases (first is canonical))
_MBR_TYPES = [
    (0x01, "FAT12", ("fat12",)),
    (0x04, "FAT16 <32M", ("fat16-small",)),
    (0x05, "Extended (CHS)", ("extended-chs",)),
    (0x06, "FAT16", ("fat16",)),
    (0x07, "HPFS/NTFS/exFAT", ("ntfs", "exfat", "windows")),
    (0x0B, "W95 FAT32", ("fat32",)),
    (0x0C, "W95 FAT32 (LBA)", ("fat32-lba", "fat", "vfat")),
    (0x0E, "W95 FAT16 (LBA)", ("fat16-lba",)),
    (0x0F, "W95 Extended (LBA)", ("extended",)),
    (0x11, "Hidden FAT12", ("hidden-fat12",)),
    (0x1C, "Hidden W95 FAT32 (LBA)", ("hidden-fat32-lba",)),
    (0x27, "Hidden NTFS WinRE", ("recovery", "winre")),
    (0x82, "Linux swap", ("linux-swap", "swap")),
    (0x83, "Linux", ("linux",)),
    (0x85, "Linux extended", ("linux-extended",)),
    (0x8E, "Linux LVM", ("linux-lvm", "lvm")),
    (0xA5, "FreeBSD", ("freebsd",)),
    (0xEA, "Linux extended boot", ("xbootldr",)),
    (0xEE, "GPT protective", ("gpt-protective", "gpt")),
    (0xEF, "EFI (FAT-12/16/32)", ("esp", "efi")),
    (0xFD, "Linux RAID autodetect", ("linux-raid", "raid")),
]

_MBR_BY_CODE = {code: (name, aliases) for code, name, aliases in _MBR_TYPES}
_MBR_BY_ALIAS = {alias: code for code, _, aliases in _MBR_TYPES for alias in aliases}

MBR_EXTENDED_CODES = frozenset({0x05, 0x0F, 0x85})
MBR_PROTECTIVE = 0xEE

# The roles Windows and UEFI give partitions; the one place that knows which type is which.
ESP_GUID = _GPT_BY_ALIAS["esp"]
MSR_GUID = _GPT_BY_ALIAS["msr"]
BASIC_DATA_GUID = _GPT_BY_ALIAS["basic-data"]
WINRE_GUID = _GPT_BY_ALIAS["winre"]
MBR_ESP = _MBR_BY_ALIAS["esp"]
MBR_NTFS = _MBR_BY_ALIAS["ntfs"]  # NTFS/exFAT/HPFS: what Windows data partitions use on MBR
MBR_WINRE = _MBR_BY_ALIAS["winre"]


def _role(part, guids: tuple[str, ...], codes: tuple[int, ...]) -> bool:
    """Does ``part`` (a GPT or MBR ``Partition``) have one of these types?"""
    if part.type_guid is not None:
        return part.type_guid.lower() in guids
    return part.type_code in codes


def is_esp(part) -> bool:
    """An EFI System Partition (GPT type or MBR 0xEF)."""
    return _role(part, (ESP_GUID,), (MBR_ESP,))


def is_basic_data(part) -> bool:
    """Where Windows keeps a volume: basic data (GPT) or an NTFS-type MBR partition."""
    return _role(part, (BASIC_DATA_GUID,), (MBR_NTFS,))


def is_msr(part) -> bool:
    return _role(part, (MSR_GUID,), ())


def is_auxiliary(part) -> bool:
    """ESP, MSR, recovery or an extended-partition container: never a Windows volume."""
    return _role(part, (ESP_GUID, MSR_GUID, WINRE_GUID),
                 (MBR_ESP, MBR_WINRE, *MBR_EXTENDED_CODES))

# GPT attribute bits (UEFI spec table 5-7, plus the Microsoft basic-data bits)
ATTRIBUTE_BITS = {
    "required": 0,
    "no-block-io": 1,
    "legacy-bios-bootable": 2,
    "read-only": 60,
    "shadow-copy": 61,
    "hidden": 62,
    "no-drive-letter": 63,
}
_BIT_NAMES = {bit: name for name, bit in ATTRIBUTE_BITS.items()}


def gpt_type_guid(text: str) -> str:
    """Resolve ``esp``, ``ef00`` or a GUID to a lowercase type GUID."""
    key = text.strip().lower()
    if key in _GPT_BY_ALIAS:
        return _GPT_BY_ALIAS[key]
    if re.fullmatch(r"(0x)?[0-9a-f]{4}", key):
        code = int(key, 16)
        if code in _GPT_BY_CODE:
            return _GPT_BY_CODE[code]
    if is_guid(key):
        guid = normalize_guid(key)
        if guid == EMPTY_GUID:
            raise UsageError("the all-zero GUID marks an unused entry; it is not a partition type")
        return guid
    raise UsageError(f"unknown GPT partition type {text!r} (known: {', '.join(gpt_aliases())}, "
                     "or any GUID)")


def gpt_type_name(guid: str) -> str:
    """Display name of a type GUID; unknown GUIDs show as themselves."""
    entry = _GPT_BY_GUID.get(guid.lower())
    return entry[0] if entry else guid.lower()


def gpt_type_alias(guid: str) -> str | None:
    entry = _GPT_BY_GUID.get(guid.lower())
    return entry[1][0] if entry else None


def gpt_aliases() -> list[str]:
    return [aliases[0] for _, _, aliases, _ in _GPT_TYPES]


def mbr_type_code(text: str | int) -> int:
    """Resolve ``fat32-lba``, ``0x0c`` or ``c``/``83`` (hex, as sfdisk writes them) to an MBR
    type byte."""
    if isinstance(text, int):
        code = text
    else:
        key = text.strip().lower()
        if key in _MBR_BY_ALIAS:
            return _MBR_BY_ALIAS[key]
        try:
            code = int(key, 16)
        except ValueError:
            raise UsageError(f"unknown MBR partition type {text!r} (known: "
                             f"{', '.join(mbr_aliases())}, or a byte such as 0x0c)") from None
    if not 0 < code < 256:
        raise UsageError(f"MBR partition type must be 0x01..0xff, not {text!r}")
    return code


def mbr_type_name(code: int) -> str:
    entry = _MBR_BY_CODE.get(code)
    return entry[0] if entry else f"type 0x{code:02x}"


def mbr_type_alias(code: int) -> str | None:
    entry = _MBR_BY_CODE.get(code)
    return entry[1][0] if entry else None


def mbr_aliases() -> list[str]:
    return [aliases[0] for _, _, aliases in _MBR_TYPES]


def attribute_names(value: int) -> list[str]:
    """Names of the set bits; bits without a name show as ``bit-N``."""
    return [_BIT_NAMES.get(bit, f"bit-{bit}") for bit in range(64) if value >> bit & 1]


def parse_attributes(text: str, current: int = 0) -> int:
    """``hidden,no-drive-letter`` sets exactly those; ``+hidden``/``-read-only`` edit ``current``.

    Bits can also be given by number (``62``) and the whole mask as hex (``0x8000000000000001``).
    An empty string or ``none`` clears all bits.
    """
    text = text.strip()
    if text.lower() in ("", "none", "0"):
        return 0
    if re.fullmatch(r"0x[0-9a-fA-F]{1,16}", text):
        return int(text, 16)
    items = [item.strip() for item in text.split(",") if item.strip()]
    relative = all(item[0] in "+-" for item in items)
    if not relative and any(item[0] in "+-" for item in items):
        raise UsageError(f"attributes {text!r}: use either a plain list or +name/-name edits")
    value = current if relative else 0
    for item in items:
        sign, name = (item[0], item[1:]) if relative else ("+", item)
        key = name.lower()
        if key in ATTRIBUTE_BITS:
            bit = ATTRIBUTE_BITS[key]
        elif key.isdigit() and int(key) < 64:
            bit = int(key)
        elif key.startswith("bit-") and key[4:].isdigit() and int(key[4:]) < 64:
            bit = int(key[4:])
        else:
            raise UsageError(f"unknown partition attribute {name!r} (known: "
                             f"{', '.join(ATTRIBUTE_BITS)}, or a bit number 0-63)")
        value = value | (1 << bit) if sign == "+" else value & ~(1 << bit)
    return value
