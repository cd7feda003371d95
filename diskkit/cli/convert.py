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
    add_new_image_options(p)
    add_json(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("compact", help="free the space of all-zero blocks",
                       description="Rewrite a dynamic VHD without its all-zero blocks, or "
                       "punch holes into the all-zero runs of a raw or fixed image.")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--zero-free", action="store_true",
                   help="first zero the free clusters of every FAT filesystem inside")
    add_json(p)
    p.set_defaults(func=cmd_compact)


def cmd_convert(args) -> int:
    result = convert(args.input, args.output, args.to, args.block_size, args.preallocate,
                     args.force, allow_device=args.device)
    if args.to in ("fixed", "dynamic"):
        for message in vhd.size_warnings(result["virtual_size"]):
            warn(message)
    emit(args, result, lambda r: (
        f"converted {r['source']} ({r['source_container']}) -> {r['output']} ({r['container']}): "
        f"{format_size(r['virtual_size'])} virtual, {format_size(r['allocated_bytes'])} allocated"))
    return 0


def cmd_compact(args) -> int:
    result = compact(args.image, args.zero_free, allow_device=args.device)

    def text(r):
        lines = [f"zeroed {format_size(v['zeroed_bytes'])} free in {v['volume']}"
                 for v in r.get("zero_free", [])]
        lines.append(f"compacted {r['path']} ({r['container']}): allocated "
                     f"{format_size(r['allocated_before'])} -> {format_size(r['allocated_after'])}")
        return "\n".join(lines)

    emit(args, result, text)
    return 0
