"""Is a file a UEFI application a PC's firmware can start? The PE/COFF fields it checks.

A UEFI loader is a PE32+ image (``MZ`` stub, ``PE\\0\\0`` header at ``e_lfanew``) whose COFF
machine is x86-64 (0x8664) and whose optional header says subsystem 10 (EFI application).
A Windows ``.exe``, an ARM64 build or a renamed text file passes none of this, and the firmware
would skip it silently at power-on.
"""

from __future__ import annotations

from construct import Bytes, ConstructError, Int16ul, Int32ul, Padding, Struct

from ..errors import UsageError

DOS_HEADER = Struct("magic" / Bytes(2), Padding(0x3A), "pe_offset" / Int32ul)
PE_HEADER = Struct(
    "signature" / Bytes(4),
    "machine" / Int16ul,
    "sections" / Int16ul,
    Padding(12),
    "optional_size" / Int16ul,
    "characteristics" / Int16ul,
    "optional_magic" / Int16ul,   # 0x20b: PE32+
    Padding(66),
    "subsystem" / Int16ul,
)
X86_64 = 0x8664
EFI_APPLICATION = 10
MACHINES = {0x14C: "32-bit x86", 0x8664: "x86-64", 0xAA64: "ARM64", 0x1C4: "ARM", 0x5064: "RISC-V"}
SUBSYSTEMS = {1: "native", 2: "Windows GUI", 3: "Windows console", 10: "EFI application",
              11: "EFI boot-service driver", 12: "EFI runtime driver"}
_READ = 4096


def describe(head: bytes) -> str | None:
    """Why ``head`` (a file's first bytes) is not an x86-64 EFI application; None if it is."""
    from ..i18n import tr

    try:
        dos = DOS_HEADER.parse(head)
        if dos.magic != b"MZ":
            return tr("not a PE/COFF program (no MZ header)")
        pe = PE_HEADER.parse(head[dos.pe_offset:])
    except (ConstructError, ValueError):
        return tr("not a PE/COFF program (header cut short)")
    if pe.signature != b"PE\0\0":
        return tr("not a PE/COFF program (no PE header)")
    if pe.machine != X86_64:
        name = MACHINES.get(pe.machine, f"machine 0x{pe.machine:04x}")
        return tr("a program for {name}, not x86-64", name=name)
    if pe.subsystem != EFI_APPLICATION:
        name = SUBSYSTEMS.get(pe.subsystem, f"subsystem {pe.subsystem}")
        return tr("a {name} program, not an EFI application", name=name)
    return None


def check_loader(path: str) -> None:
    """Refuse a ``--loader`` that the firmware could not start."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_READ)
    except OSError as exc:
        raise UsageError(f"--loader {path}: {exc.strerror or exc}") from None
    if len(head) >= 0x40:
        offset = int.from_bytes(head[0x3C:0x40], "little")
        if head[:2] == b"MZ" and offset + 0x60 > len(head) and offset < 1 << 20:
            with open(path, "rb") as fh:
                head = fh.read(offset + 0x60)
    problem = describe(head)
    if problem:
        raise UsageError(f"--loader {path}: {problem}; the firmware starts only x86-64 EFI "
                         "applications (grubx64.efi, BOOTX64.EFI)")
