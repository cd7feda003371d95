"""`diskkit vmdk wrap`: let VMware use a fixed VHD in place through a flat descriptor."""

from __future__ import annotations

from ..ops.vmdk import ADAPTERS, wrap
from ..units import MiB
from .common import add_json, emit, size_arg


def register(sub):
    group = sub.add_parser("vmdk", help="VMware descriptors for fixed VHDs",
                           description="VMware descriptors that use a fixed VHD without a copy.")
    cmds = group.add_subparsers(dest="vmdk_command", metavar="SUBCOMMAND")
    cmds.required = True
    p = cmds.add_parser("wrap", help="write a monolithicFlat .vmdk pointing at a fixed VHD",
                        description="Write a VMware monolithicFlat descriptor whose FLAT extent "
                        "is the fixed VHD's data (the footer stays outside). Dynamic VHDs are "
                        "refused: convert them to fixed first.")
    p.add_argument("image", metavar="FIXED.vhd")
    p.add_argument("--out", metavar="NAME.vmdk", help="descriptor path (default: IMAGE.vmdk)")
    p.add_argument("--adapter", choices=ADAPTERS, default="sata",
                   help="virtual disk controller (default sata: AHCI, as the QEMU and "
                   "VirtualBox VMs use)")
    p.add_argument("--vmx", metavar="NAME.vmx", help="also write a minimal UEFI VM definition")
    p.add_argument("--iso", metavar="PE.iso", help="with --vmx: a CD drive holding this ISO, "
                   "booted first (install or repair from your PE)")
    p.add_argument("--memory", type=size_arg, default=4096 * MiB,
                   help="VM memory for --vmx (default 4G)")
    p.add_argument("--cpus", type=int, default=2, help="VM CPU count for --vmx (default 2)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    add_json(p)
    p.set_defaults(func=cmd_wrap)


def cmd_wrap(args) -> int:
    result = wrap(args.image, args.out, args.adapter, args.vmx, args.memory // MiB, args.cpus,
                  args.force, args.iso)
    emit(args, result, lambda r: f"wrote {r['vmdk']} ({r['sectors']} sectors, FLAT extent "
         f"{r['extent']!r}, {r['adapter']})" + (f" and {r['vmx']}" if "vmx" in r else ""))
    return 0
