"""`diskkit vhd create|info|check|repair`: make, inspect and repair VHD containers."""

from __future__ import annotations

from ..units import format_size
from .common import add_json, add_new_image_options, emit, emit_report, size_arg, table, warn


def register(sub):
    group = sub.add_parser("vhd", help="create, inspect and repair VHD images (fixed, dynamic)",
                           description="Create and inspect Microsoft VHD images.")
    cmds = group.add_subparsers(dest="vhd_command", metavar="SUBCOMMAND")
    cmds.required = True

    p = cmds.add_parser("create", help="create a new fixed or dynamic VHD",
                        description="Create a VHD. Fixed images are sparse and instant unless "
                        "--preallocate (the default on Windows, which refuses sparse VHDs).")
    p.add_argument("out", metavar="OUT", help="new image file")
    p.add_argument("--size", type=size_arg, required=True,
                   help="virtual size: 512, 64M, 5G, 1.5T, 100MiB (multiple of 512, max 2040G)")
    p.add_argument("--type", dest="vhd_type", choices=["fixed", "dynamic"], default="fixed",
                   help="fixed (raw data + footer, default) or dynamic (grows on write)")
    add_new_image_options(p)
    add_json(p)
    p.set_defaults(func=cmd_create)

    p = cmds.add_parser("info", help="show footer, geometry, creator, blocks",
                        description="Show what a VHD's footer and header say.")
    p.add_argument("image", metavar="IMAGE")
    add_json(p)
    p.set_defaults(func=cmd_info)

    p = cmds.add_parser("check", help="validate every VHD structure",
                        description="Validate checksums, footer copy, BAT and bitmaps; exit 0 "
                        "clean, 1 problems found, 2 error.")
    p.add_argument("image", metavar="IMAGE")
    add_json(p)
    p.set_defaults(func=cmd_check)

    p = cmds.add_parser("repair", help="make a dynamic VHD's two footers agree",
                        description="Rewrite a stale footer copy at offset 0 from the trailing "
                        "footer, or a missing/damaged trailing footer from the copy (what an "
                        "interrupted resize or another tool can leave). Example: diskkit vhd "
                        "repair win.vhd")
    p.add_argument("image", metavar="IMAGE")
    add_json(p)
    p.set_defaults(func=cmd_repair)


def cmd_create(args) -> int:
    from .. import vhd

    vhd.create(args.out, args.size, args.vhd_type, args.block_size or vhd.DEFAULT_BLOCK_SIZE,
               args.preallocate, args.force)
    for message in vhd.size_warnings(args.size):
        warn(message)
    data = vhd.info(args.out)
    emit(args, data, f"created {args.out}: {args.vhd_type} VHD, "
         f"{format_size(args.size)} ({args.size} bytes)")
    return 0


def _info_text(d: dict) -> str:
    rows = [["container", d["container"]],
            ["virtual size", f"{format_size(d['virtual_size'])} ({d['virtual_size']} bytes)"],
            ["file size", f"{d['file_size']} bytes"],
            ["allocated on disk", f"{format_size(d['allocated_bytes'])}"]]
    if "geometry" in d:
        g, c = d["geometry"], d["creator"]
        rows += [["geometry (C/H/S)", f"{g['cylinders']}/{g['heads']}/{g['sectors']} "
                  f"({g['chs_size']} bytes)"],
                 ["creator", f"{c['application']!r} {c['version']} on {c['host_os']!r}"],
                 ["uuid", d["uuid"]], ["timestamp", d["timestamp"]],
                 ["saved state", "yes" if d["saved_state"] else "no"]]
    if "block_size" in d:
        rows.append(["block size", format_size(d["block_size"])])
    if "allocated_blocks" in d:
        rows.append(["allocated blocks", f"{d['allocated_blocks']} of {d['max_table_entries']}"])
    if "parent" in d:
        rows.append(["parent", f"{d['parent']['name']} ({d['parent']['uuid']})"])
    lines = [table(rows)]
    lines += [f"warning: {w}" for w in d.get("warnings", [])]
    return "\n".join(lines)


def cmd_info(args) -> int:
    from .. import image

    data = image.info(args.image, allow_device=args.device)
    emit(args, data, _info_text)
    return 0


def cmd_check(args) -> int:
    from .. import image

    return emit_report(args, image.check(args.image, allow_device=args.device))


def cmd_repair(args) -> int:
    from .. import vhd

    changes = vhd.repair(args.image, allow_device=args.device)
    emit(args, {"path": args.image, "changes": changes},
         "\n".join(changes) or f"{args.image}: nothing to repair")
    return 0
