"""``repair``: make a dynamic VHD's two footers agree again.

A dynamic VHD keeps its footer twice: at the end (authoritative for diskkit, libvhdi and
Hyper-V) and a copy at offset 0 (what qemu reads first). Changing it (resize) writes the
trailing footer, then the copy; an interruption in between, or a tool that updated only one,
leaves them disagreeing. ``repair`` rewrites the stale one from the good one.
"""

from __future__ import annotations

from ..blockdev import FileRegion
from ..errors import CorruptImage
from .container import open_found, probe
from .footer import DIFFERENCING, DYNAMIC, FOOTER_SIZE, build_footer


def repair(path: str, allow_device: bool = False) -> list[str]:
    """Rewrite a missing or damaged trailing footer from the copy, or a stale copy from the
    trailing footer. Returns what changed (empty: nothing to do)."""
    region = FileRegion.open(path, True, allow_device)
    try:
        found = probe(region)
        if found is None:
            raise CorruptImage(f"{path}: not a VHD (no 'conectix' footer at the end or start)")
        footer = found.footer
        if footer.disk_type not in (DYNAMIC, DIFFERENCING):
            return []
        raw = build_footer(footer)
        if found.used_copy:
            dev = open_found(region, found, writable=True)
            region.pwrite(dev.file_end, raw)
            region.sync()
            return [f"wrote the trailing footer at offset {dev.file_end} from the copy at 0"]
        if region.pread(0, FOOTER_SIZE) != raw:
            region.pwrite(0, raw)
            region.sync()
            return ["rewrote the footer copy at offset 0 from the trailing footer"]
        return []
    finally:
        region.close()
