"""``ramos plan``: will this VHD fit in this RAM, how long does it take to load, what layout.

Pure arithmetic over the user's numbers and the field rules gathered in
/work/shared/notes/boot-chains.md; nothing is read or written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..boot.chains import dynamic_note, ramos_chain, size_warning
from ..errors import UsageError
from ..i18n import tr
from ..units import GiB, MiB, format_size, parse_rate
from .layout import Layout, layout_for

VHD_FOOTER = 512
RAM_HEADROOM = 4 * GiB  # field rule (wuyou tid=408544): RAM >= VHD size + 4 GiB
SMALLEST_WINDOWS = 11 * GiB  # below this a stock Windows 10/11 does not fit: it needs trimming



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
    notes: list[str] = field(default_factory=list)  # what to know before the first boot

    def to_dict(self) -> dict:
        return {"chain": self.chain, "vhd_size": self.vhd_size, "vhd_type": self.vhd_type,
                "ram": self.ram, "read_rate": self.read_rate, "file_size": self.file_size,
                "ram_disk": self.ram_disk, "ram_left": self.ram_left,
                "load_seconds": round(self.load_seconds, 2),
                "max_vhd_for_ram": self.max_vhd_for_ram, "warnings": self.warnings,
                "notes": self.notes, "layout": self.layout.to_dict()}

    def to_text(self) -> str:
        chain = ramos_chain(self.chain)
        rows = [
            (tr("chain"), self.chain + ("" if chain.in_ram else
                                        tr("  (file-backed: nothing is loaded into RAM)"))),
            ("VHD", tr("{size} {type} (a fixed VHD file is {bytes} bytes)",
                       size=format_size(self.vhd_size), type=self.vhd_type,
                       bytes=self.file_size)),
            (tr("RAM"), format_size(self.ram)),
            (tr("RAM disk"), format_size(self.ram_disk)),
            (tr("RAM left"), tr("{left} for Windows and programs",
                                left=format_size(self.ram_left))),
            (tr("load time"), tr("{seconds} s at {rate} (the physical floor: size / read speed)",
                                 seconds=f"{self.load_seconds:.1f}",
                                 rate=format_rate(self.read_rate))),
            (tr("largest VHD"), tr("{size} for this RAM (RAM - 4 GiB rule)",
                                   size=format_size(self.max_vhd_for_ram))
             + (tr("; with less RAM the boot manager stops with 0xc0000017")
                if chain.ms_ramdisk else "")),
        ]
        width = max(17, max(display_width(label) for label, _ in rows) + 2)
        lines = [label + " " * (width - display_width(label)) + value for label, value in rows]
        lines.append(self.layout.to_text())
        lines += [tr("warning: {message}", message=w) for w in self.warnings]
        lines += [tr("note: {message}", message=n) for n in self.notes]
        return "\n".join(lines)


def display_width(text: str) -> int:
    """Columns a terminal gives ``text``: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_rate(rate: float) -> str:
    """Decimal units, as drive makers quote read speeds: ``1 GB/s``, ``550 MB/s``."""
    for unit, factor in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if rate >= factor:
            return f"{rate / factor:.3g} {unit}"
    return f"{rate:.3g} B/s"


_BARE_NUMBER = re.compile(r"\s*[0-9.]+\s*(/s)?\s*", re.I)


def parse_read_speed(text: str) -> float:
    """A read speed with its unit (``1GB/s``, ``550MB/s``): a bare number is refused, since
    1000 would mean 1000 bytes per second."""
    if _BARE_NUMBER.fullmatch(str(text)):
        raise UsageError(tr("{text}: give a unit, e.g. {text}MB/s (drive makers quote decimal "
                            "MB/s) or 1GB/s", text=str(text).strip()))
    return parse_rate(text)


NOT_ENOUGH_RAM = ("0xc0000017 (\"There isn't enough memory available to create a ramdisk "
                  "device\")")


def fat_file_limit() -> int:
    """FAT32's largest file (the FAT layer's fact; imported only when a VHD comes near it)."""
    from ..fat import MAX_FILE_SIZE

    return MAX_FILE_SIZE


def host_partition_note(file_size: int) -> str | None:
    """Why a VHD file this big cannot sit on a FAT32 partition (None when it can)."""
    if file_size > 4 * GiB - 1 and file_size > fat_file_limit():
        return tr("the VHD file is {size}: the partition holding it must be NTFS or exFAT, "
                  "since FAT32 holds files up to 4 GiB - 1 byte", size=format_size(file_size))
    return None


def largest_vhd(ram: int) -> int:
    """The largest VHD ``ram`` holds by the RAM - 4 GiB rule (whole MiB)."""
    return max(0, (ram - RAM_HEADROOM) // MiB * MiB)


def check_ram(vhd_size: int, ram: int, chain: str) -> str | None:
    """The RAM rule, for ``ramos plan`` and ``ramos doctor`` alike: a UsageError naming the
    largest VHD that fits when the RAM disk (the fixed VHD file) does not fit in ``ram`` at all;
    the warning when ``ram`` is below VHD + 4 GiB; None when it holds (or the chain loads
    nothing into RAM)."""
    facts = ramos_chain(chain)
    if not facts.in_ram:
        return None
    largest = largest_vhd(ram)
    shows = tr("; the boot manager shows {error}", error=NOT_ENOUGH_RAM) \
        if facts.ms_ramdisk else ""
    if vhd_size + VHD_FOOTER >= ram:
        fits = tr("the largest VHD for this RAM is {size} (RAM - 4 GiB, the rule from field "
                  "reports)", size=format_size(largest)) if largest else \
            tr("this RAM leaves nothing once Windows has its 4 GiB: it cannot hold a RAMOS")
        raise UsageError(tr("a {vhd} VHD does not fit in {ram} of RAM: {fits}{shows}",
                            vhd=format_size(vhd_size), ram=format_size(ram), fits=fits,
                            shows=shows))
    if ram < vhd_size + RAM_HEADROOM:
        return tr("RAM {ram} is below VHD size + 4 GiB ({need}), the rule from field reports: "
                  "Windows is left too little memory; shrink the VHD to {largest} or add "
                  "RAM{shows}", ram=format_size(ram), need=format_size(vhd_size + RAM_HEADROOM),
                  largest=format_size(largest), shows=shows)
    return None


def make_plan(vhd_size: int, ram: int, read_rate: float = 1e9, chain: str = "grub2-map",
              vhd_type: str = "fixed") -> Plan:
    """Budget RAM and load time for ``vhd_size`` on a machine with ``ram`` bytes.

    A VHD the RAM cannot hold at all is refused, naming the largest that fits by the rule.
    """
    if vhd_type not in ("fixed", "dynamic"):
        raise UsageError(tr("VHD type {type!r}: choose fixed or dynamic", type=vhd_type))
    if ram <= 0 or read_rate <= 0:
        raise UsageError(tr("--ram and --ssd-read must be positive"))
    layout = layout_for(chain, vhd_size)
    facts = ramos_chain(chain)
    file_size = vhd_size + VHD_FOOTER  # a fixed VHD: the disk's bytes plus a 512-byte footer
    ram_disk = file_size if facts.in_ram else 0
    plan = Plan(chain, vhd_size, vhd_type, ram, read_rate, file_size, ram_disk, ram - ram_disk,
                ram_disk / read_rate, largest_vhd(ram), layout)
    w = plan.warnings
    short = check_ram(vhd_size, ram, chain)
    if short:
        w.append(short)
    too_big = size_warning(chain, vhd_size)
    if too_big:
        w.append(too_big)
    if facts.largest_seen and vhd_size > facts.largest_seen[0]:
        size, where = facts.largest_seen
        w.append(tr("no VHD above {size} is known to have loaded through {chain} ({where}); it "
                    "may work, test it before relying on it", chain=chain,
                    size=format_size(size), where=where))
    if vhd_type == "dynamic":
        if facts.needs_fixed:
            w.append(tr("a dynamic VHD with the {chain} chain: the loader copies the file as a "
                        "flat disk, so Windows sees the dynamic VHD's metadata, not its disk; "
                        "use a fixed VHD (diskkit convert IN OUT --to fixed)", chain=chain))
        else:
            plan.notes.append(dynamic_note(chain))
    if vhd_size < SMALLEST_WINDOWS:
        w.append(tr("{size} is less than a stock Windows 10/11 takes installed, even with "
                    "Compact OS (which saves about 2.6 GB on 64-bit Windows, by Microsoft's "
                    "figures): plan on a trimmed edition (LTSC, no apps), `ramos script slim`, "
                    "and re-capture into the small VHD", size=format_size(vhd_size)))
    plan.notes += [tr(note) for note in facts.notes]
    host_note = host_partition_note(file_size)
    if host_note:
        plan.notes.append(host_note)
    return plan
