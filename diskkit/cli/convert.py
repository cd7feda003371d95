"""`diskkit convert` and `diskkit compact`: change an image's container, drop zero blocks."""

from __future__ import annotations

from .. import vhd
from ..ops.compact import compact
from ..ops.convert import CONTAINERS, convert
from ..units import format_size
from .common import add_json, add_new_image_options, emit, warn


def register(sub):
    p = sub.add_parser("convert", help="convert between raw, fixed or dynamic VHD and VHDX",
                       description="Copy IN into a new OUT of another container, keeping the "
                       "exact virtual size; holes and all-zero blocks are skipped, and OUT "
                       "appears only when complete.")
    p.add_argument("input", metavar="IN", help="source image (raw, fixed or dynamic VHD, VHDX)")
    p.add_argument("output", metavar="OUT", help="new image")
    p.add_argument("--to", required=True, choices=CONTAINERS,
                   help="output container: raw, fixed or dynamic VHD, vhdx (dynamic) or "
                   "vhdx-fixed")
    p.add_argument("--skip-free", action="store_true",
                   help="do not copy the free clusters of the FAT and NTFS filesystems inside "
                   "(deleted files' leftovers): they become holes or unallocated blocks, as "
                   "Hyper-V's Optimize-VHD -Mode Full leaves them; an NTFS Windows did not shut "
                   "down cleanly is refused")
    p.add_argument("--logical-sector", type=int, choices=(512, 4096),
                   help="logical sector size of a VHDX output (default: the source's; "
                   "refused when a partition table inside was laid out for another)")
    add_new_image_options(p)
    add_json(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("compact", help="free the space of all-zero blocks",
                       description="Rewrite a dynamic VHD or VHDX without its all-zero blocks, "
                       "or punch holes into the all-zero runs of a raw or fixed image.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--zero-free", action="store_true",
                   help="also drop the free clusters of every FAT and NTFS filesystem inside "
                   "(deleted files' leftovers), as Hyper-V's Optimize-VHD -Mode Full does; an "
                   "NTFS Windows did not shut down cleanly is refused")
    add_json(p)
    p.set_defaults(func=cmd_compact)


def cmd_convert(args) -> int:
    result = convert(args.input, args.output, args.to, args.block_size, args.preallocate,
                     args.force, allow_device=args.device, skip_free=args.skip_free,
                     logical_sector=args.logical_sector)
    if args.to in ("fixed", "dynamic"):
        for message in vhd.size_warnings(result["virtual_size"]):
            warn(message)
    def text(r):
        lines = _free_lines(r.get("skipped_free"), "skipped")
        lines.append(f"converted {r['source']} ({r['source_container']}) -> {r['output']} "
                     f"({r['container']}): {format_size(r['virtual_size'])} virtual, "
                     f"{format_size(r['allocated_bytes'])} allocated")
        return "\n".join(lines)

    emit(args, result, text)
    return 0


def _free_lines(free: dict | None, verb: str) -> list[str]:
    """What ``freespace.FreeSpace.to_dict`` says, per volume."""
    if not free:
        return []
    return ([f"{verb} {format_size(v['free_bytes'])} free in {v['volume']} ({v['type']})"
             for v in free["volumes"]] + [f"note: {reason}" for reason in free["skipped"]])


def cmd_compact(args) -> int:
    result = compact(args.image, args.zero_free, allow_device=args.device)

    def text(r):
        lines = _free_lines(r.get("zero_free"), "zeroed")
        lines.append(f"compacted {r['path']} ({r['container']}): allocated "
                     f"{format_size(r['allocated_before'])} -> {format_size(r['allocated_after'])}")
        return "\n".join(lines)

    emit(args, result, text)
    return 0
