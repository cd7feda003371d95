"""``ramos plan``: will this VHD fit in this RAM, how long does it take to load, what layout.

Pure arithmetic over the user's numbers and the field rules gathered in
/work/shared/notes/boot-chains.md; nothing is read or written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError
from ..units import GiB, MiB, format_size
from ..boot.chains import ramos_chain
from .layout import Layout, layout_for

VHD_FOOTER = 512
RAM_HEADROOM = 4 * GiB  # field rule (wuyou tid=408544): RAM >= VHD size + 4 GiB
SMALLEST_WINDOWS = 11 * GiB  # Microsoft: Win10 after Compact OS ~11.3 GB; smaller needs trimming

# Largest VHD reported booting from RAM per chain, with the report; not a hard limit.
REPORTED = {
    "grub4efi": (42 * GiB, "chenall/grub4dos issues #449/#450 (42 GB Windows 11 VHD)"),
    "grub2-map": (int(3.8 * GiB), "chenall/grub4dos issue #248 (3.8 GB VHD via a1ive GRUB2)"),
}


@dataclass
class Plan:
    chain: str
    vhd_size: int
    vhd_type: str
    ram: int
    read_rate: float  # bytes per second
    file_size: int
    ram_disk: int  # bytes the loader takes from RAM (0 for file-backed boot)
    ram_left: int
    load_seconds: float
    max_vhd_for_ram: int  # the largest VHD this RAM allows by the 4 GiB rule
    layout: Layout
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"chain": self.chain, "vhd_size": self.vhd_size, "vhd_type": self.vhd_type,
                "ram": self.ram, "read_rate": self.read_rate, "file_size": self.file_size,
                "ram_disk": self.ram_disk, "ram_left": self.ram_left,
                "load_seconds": round(self.load_seconds, 2),
                "max_vhd_for_ram": self.max_vhd_for_ram, "warnings": self.warnings,
                "layout": self.layout.to_dict()}

    def to_text(self) -> str:
        lines = [f"chain            {self.chain}"
                 + ("" if ramos_chain(self.chain).in_ram
                    else "  (file-backed: nothing is loaded into RAM)"),
                 f"VHD              {format_size(self.vhd_size)} {self.vhd_type} "
                 f"(a fixed VHD file is {self.file_size} bytes)",
                 f"RAM              {format_size(self.ram)}",
                 f"RAM disk         {format_size(self.ram_disk)}",
                 f"RAM left         {format_size(self.ram_left)} for Windows and programs",
                 f"load time        {self.load_seconds:.1f} s at {format_rate(self.read_rate)} "
                 "(the physical floor: size / read speed)",
                 f"largest VHD      {format_size(self.max_vhd_for_ram)} for this RAM "
                 "(RAM - 4 GiB rule)",
                 self.layout.to_text()]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def format_rate(rate: float) -> str:
    """Decimal units, as drive makers quote read speeds: ``1 GB/s``, ``550 MB/s``."""
    for unit, factor in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if rate >= factor:
            return f"{rate / factor:.3g} {unit}"
    return f"{rate:.3g} B/s"


def make_plan(vhd_size: int, ram: int, read_rate: float = 1e9, chain: str = "grub2-map",
              vhd_type: str = "fixed") -> Plan:
    """Budget RAM and load time for ``vhd_size`` on a machine with ``ram`` bytes."""
    if vhd_type not in ("fixed", "dynamic"):
        raise UsageError(f"VHD type {vhd_type!r}: choose fixed or dynamic")
    if ram <= 0 or read_rate <= 0:
        raise UsageError("--ram and --ssd-read must be positive")
    layout = layout_for(chain, vhd_size)
    file_size = vhd_size + VHD_FOOTER  # a fixed VHD: the disk's bytes plus a 512-byte footer
    in_ram = ramos_chain(chain).in_ram
    ram_disk = file_size if in_ram else 0
    plan = Plan(chain, vhd_size, vhd_type, ram, read_rate, file_size, ram_disk, ram - ram_disk,
                ram_disk / read_rate, max(0, (ram - RAM_HEADROOM) // MiB * MiB), layout)
    w = plan.warnings
    if in_ram and ram_disk >= ram:
        w.append(f"the VHD ({format_size(vhd_size)}) does not fit in {format_size(ram)} of RAM "
                 "at all: the loader will fail or the machine will not boot")
    elif in_ram and ram < vhd_size + RAM_HEADROOM:
        w.append(f"RAM {format_size(ram)} is below VHD size + 4 GiB "
                 f"({format_size(vhd_size + RAM_HEADROOM)}), the rule from field reports: "
                 "Windows is left too little memory; shrink the VHD or add RAM")
    if in_ram and vhd_type == "dynamic":
        w.append(f"a dynamic VHD with the {chain} chain: the loader copies the file as a flat "
                 "disk, so Windows sees the dynamic VHD's metadata, not its disk; use a fixed "
                 "VHD (diskkit convert IN OUT --to fixed)")
    if chain in REPORTED and vhd_size > REPORTED[chain][0]:
        size, source = REPORTED[chain]
        w.append(f"no report of {chain} loading a VHD above {format_size(size)} ({source}); "
                 "it may work, test it before relying on it")
    if vhd_size < SMALLEST_WINDOWS:
        w.append(f"{format_size(vhd_size)} is below what a stock Windows 10/11 needs even after "
                 "Compact OS (~11 GB, Microsoft's figures): plan on a trimmed edition (LTSC, "
                 "no apps), `ramos script slim`, and re-capture into the small VHD")
    if ramos_chain(chain).needs_svbus:
        w.append(f"{chain} needs the SVBus driver inside the image, or Windows stops with "
                 "INACCESSIBLE_BOOT_DEVICE (0x7B): `ramos script deploy --svbus DIR`")
    return plan
