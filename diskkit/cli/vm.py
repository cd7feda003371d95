"""`diskkit vm`: boot an image in QEMU or VirtualBox to install and tune Windows in it."""

from __future__ import annotations

import os
import sys

from ..errors import NotFound
from .common import add_json, emit, size_arg


def register(sub):
    vm = sub.add_parser("vm", help="print (or run) the commands that boot an image in a VM",
                        description="QEMU (OVMF UEFI, format=vpc) or VirtualBox (VBoxManage, EFI). "
                        "VMware: diskkit vmdk wrap IMAGE.vhd, then open the .vmdk.")
    vsub = vm.add_subparsers(dest="vm_command", metavar="HYPERVISOR")
    vsub.required = True
    for name, helptext in (("qemu", "QEMU with OVMF, the disk on AHCI"),
                           ("virtualbox", "VBoxManage commands: create, attach on SATA, start")):
        p = vsub.add_parser(name, help=helptext)
        p.add_argument("image", metavar="IMAGE")
        p.add_argument("--memory", type=size_arg, default="4G", metavar="SIZE",
                       help="guest RAM (default 4G)")
        p.add_argument("--cpus", type=int, default=2, help="virtual CPUs (default 2)")
        p.add_argument("--firmware", choices=("auto", "uefi", "bios"), default="auto",
                       help="auto: UEFI for GPT/ESP images, BIOS for MBR without ESP")
        if name == "qemu":
            p.add_argument("--ovmf", metavar="CODE,VARS", help="OVMF firmware files to use")
            p.add_argument("--accel", metavar="NAME",
                           help="QEMU accelerator (kvm, whpx, hvf, tcg); default: the "
                           "platform's, falling back to tcg")
        else:
            p.add_argument("--name", help="VM name (default: the image's file name)")
        p.add_argument("--iso", metavar="PE.iso", help="a CD drive holding this ISO (your PE or "
                       "the Windows installer), booted first")
        p.add_argument("--run", action="store_true", help="run the commands instead of printing")
        add_json(p)
        p.set_defaults(func=cmd_vm, hypervisor=name)


def cmd_vm(args) -> int:
    from dataclasses import replace

    from ..ramos import vm

    facts = vm.inspect_image(args.image)
    if args.iso and not os.path.isfile(args.iso):
        raise NotFound(f"{args.iso}: no such ISO file")
    if args.firmware != "auto":
        facts = replace(facts, firmware=args.firmware)
    if args.hypervisor == "qemu":
        cmds = vm.qemu_commands(facts, args.memory, args.cpus,
                                vm.ovmf_arg(args.ovmf) if args.ovmf else None, accel=args.accel,
                                iso=args.iso)
        undo = []
    else:
        cmds = vm.virtualbox_commands(facts, args.memory, args.cpus, args.name, args.iso)
        undo = vm.virtualbox_undo(facts, args.name, args.iso)
    if args.run:
        vm.run(cmds, echo=lambda line: print(f"diskkit: {line}", file=sys.stderr))
        return 0
    data = {"hypervisor": args.hypervisor, "firmware": facts.firmware,
            "format": facts.qemu_format, "commands": cmds, "undo": undo}
    text = vm.format_commands(cmds)
    if undo:
        text += "\n# undo (the VHD file stays):\n" + vm.format_commands(undo)
    emit(args, data, text)
    return 0
