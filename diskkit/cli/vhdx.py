"""`diskkit vhdx create|info|check`: make and inspect VHDX (Hyper-V) containers."""

from __future__ import annotations

from .common import add_json, emit, emit_report, size_arg, table


def register(sub):
    group = sub.add_parser("vhdx", help="create and inspect VHDX images (Hyper-V)",
                           description="Create and inspect Microsoft VHDX images (the format "
                           "Hyper-V Generation 2 machines use). Other commands (info, check, "
                           "part, fat, convert, compact, resize) take VHDX files as well.")
    cmds = group.add_subparsers(dest="vhdx_command", metavar="SUBCOMMAND")
    cmds.required = True

    p = cmds.add_parser("create", help="create a new dynamic or fixed VHDX",
                        description="Create a VHDX. Dynamic images grow as data is written; "
                        "--fixed allocates every block (sparse and instant on the host unless "
                        "--preallocate). Example: diskkit vhdx create win.vhdx --size 64G")
    p.add_argument("out", metavar="OUT", help="new image file")
    p.add_argument("--size", type=size_arg, required=True,
                   help="virtual size: 64M, 5G, 1.5T (a multiple of the logical sector, max 64T)")
    p.add_argument("--block-size", type=size_arg, default=None,
                   help="payload block size, a power of two from 1M to 256M (default 32M)")
    p.add_argument("--logical-sector", type=int, choices=[512, 4096], default=512,
                   help="sector size the disk shows (4096 for a 4Kn disk; default 512)")
    p.add_argument("--fixed", action="store_true",
                   help="allocate every block now (Hyper-V's fixed disk)")
    p.add_argument("--preallocate", action="store_true", default=None,
                   help="with --fixed: reserve the blocks on the host file system too")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_json(p)
    p.set_defaults(func=cmd_create)

    p = cmds.add_parser("info", help="show headers, regions, metadata, log and blocks",
                        description="Show what a VHDX's headers, metadata, log and BAT say.")
    p.add_argument("image", metavar="IMAGE")
    add_json(p)
    p.set_defaults(func=cmd_info)

    p = cmds.add_parser("check", help="validate every VHDX structure",
                        description="Validate both headers, both region tables, the log, the "
                        "metadata and every BAT entry (inside the file, not overlapping); exit 0 "
                        "clean, 1 problems found, 2 error.")
    p.add_argument("image", metavar="IMAGE")
    add_json(p)
    p.set_defaults(func=cmd_check)


def cmd_create(args) -> int:
    from .. import vhdx
    from ..units import format_size

    block_size = args.block_size or vhdx.DEFAULT_BLOCK_SIZE
    vhdx.create(args.out, args.size, block_size, args.logical_sector, args.fixed,
                args.preallocate, args.force)
    kind = "fixed" if args.fixed else "dynamic"
    emit(args, vhdx.info(args.out), f"created {args.out}: {kind} VHDX, {format_size(args.size)} "
         f"({args.size} bytes), {format_size(block_size)} blocks, {args.logical_sector}-byte "
         "sectors")
    return 0


def _info_text(d: dict) -> str:
    from ..units import format_size

    rows = [["container", f"VHDX, {d['type']}"],
            ["virtual size", f"{format_size(d['virtual_size'])} ({d['virtual_size']} bytes)"],
            ["file size", f"{d['file_size']} bytes"],
            ["allocated on disk", format_size(d["allocated_bytes"])],
            ["block size", format_size(d["block_size"])],
            ["sector size", f"{d['logical_sector_size']} logical, "
                            f"{d['physical_sector_size']} physical"],
            ["disk id", d["disk_id"]], ["creator", d["creator"] or "-"],
            ["header", f"{d['header']['current']} (sequence {d['header']['sequence']})"],
            ["log", f"{format_size(d['log']['length'])} at {d['log']['offset']}"]]
    if "allocated_blocks" in d:
        rows.append(["allocated blocks", f"{d['allocated_blocks']} of {d['blocks']}"])
    if "parent" in d:
        path = d["parent"].get("relative_path") or d["parent"].get("absolute_win32_path", "?")
        rows.append(["parent", f"{path} ({d['parent'].get('parent_linkage', '?')})"])
        chain = d.get("chain", {})
        for depth, disk in enumerate(chain.get("disks", [])[1:], 1):
            rows.append(["chain" if depth == 1 else "",
                         f"{depth}: {disk['path']} ({disk['type']})"])
        if chain.get("error"):
            rows.append(["chain", f"broken: {chain['error']}"])
    lines = [table(rows)]
    lines += [f"warning: {w}" for w in d.get("warnings", [])]
    return "\n".join(lines)


def cmd_info(args) -> int:
    from .. import vhdx

    emit(args, vhdx.info(args.image), _info_text)
    return 0


def cmd_check(args) -> int:
    from .. import vhdx

    return emit_report(args, vhdx.check(args.image))
