"""`diskkit resize IMAGE --size SIZE [--grow-part N] [--force]`."""

from __future__ import annotations

from .common import add_json, emit


def cmd_resize(args) -> int:
    from ..ops.resize import resize_image
    from ..units import parse_size

    relative = args.size.startswith("+")
    size = parse_size(args.size[1:] if relative else args.size)
    result = resize_image(args.image, size, grow_part=args.grow_part, force=args.force,
                          allow_device=args.device, relative=relative)
    text = "\n".join(result["changes"]) or f"{args.image}: already {result['new_size']} bytes"
    text += "".join(f"\nnote: {note}" for note in result["notes"])
    emit(args, result, text)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "resize", help="grow or shrink an image (raw, fixed, dynamic VHD) and fix its GPT",
        description="Resize an image in place: the container, the backup GPT (moved to the new "
                    "end), the protective MBR, and optionally the last partition. Shrinking "
                    "refuses to cut a partition unless --force, and never cuts a FAT or NTFS "
                    "filesystem's used clusters (the refusal names the smallest size that keeps "
                    "them). After a grow, a filesystem smaller than its partition is named with "
                    "the diskpart and ntfsresize commands that grow it. Example: diskkit resize "
                    "win.vhd --size 40G --grow-part 3")
    p.add_argument("image", metavar="IMAGE", help="raw image, fixed or dynamic VHD")
    p.add_argument("--size", required=True,
                   help="new virtual size (40G, 2048M, ...) or +SIZE to add to the current one")
    p.add_argument("--grow-part", type=int, metavar="N",
                   help="then grow partition N (must be the last one) to fill the disk")
    p.add_argument("--force", action="store_true",
                   help="when shrinking, cut (or drop) partitions past the new end, as long as "
                   "no filesystem loses a used cluster")
    add_json(p)
    p.set_defaults(func=cmd_resize)
