"""`diskkit boot`: loader configs for the RAM-boot chains, and firmware boot entries."""

from __future__ import annotations

from ..boot import chains, firmware
from ..boot.target import read_facts
from ..fileio import atomic_output
from .common import add_json, emit, warn


def register(sub):
    boot = sub.add_parser("boot", help="RAM-boot loader configs and UEFI boot entries",
                          description="Render boot loader configs for a Windows VHD and add "
                          "UEFI firmware boot entries. Chains: " + "; ".join(
                              f"{c.name}: {c.summary}" for c in chains.CHAINS.values()))
    bsub = boot.add_subparsers(dest="boot_command", metavar="COMMAND")
    bsub.required = True

    cfg = bsub.add_parser("config", help="render a chain's config (grub.cfg, menu.lst, .cmd)",
                          description="Render the config of one boot chain with the Windows "
                          "partition's offset and GUIDs read from the real VHD. Example: "
                          "diskkit boot config --chain ntloader --vhd win.vhd "
                          "--vhd-path /ramos/win.vhd --out grub.cfg")
    cfg.add_argument("--chain", required=True, choices=list(chains.CHAINS))
    cfg.add_argument("--vhd", required=True, metavar="IMAGE", help="the Windows VHD (read only)")
    cfg.add_argument("--vhd-path", required=True, metavar="PATH",
                     help=r"where the VHD file sits on its partition at boot: /ramos/win.vhd "
                     r"(BCD chains: D:\ramos\win.vhd, with the drive letter Windows gives it)")
    cfg.add_argument("--title", default="RAMOS", help="menu title (default RAMOS)")
    cfg.add_argument("--part", type=int, metavar="N",
                     help="the Windows partition (default: the basic-data partition, else the "
                     "largest non-ESP/MSR one)")
    cfg.add_argument("--timeout", type=int, default=5,
                     help="menu timeout in seconds (GRUB, grub4efi)")
    cfg.add_argument("--default", type=int, default=0, metavar="N",
                     help="menu entry booted at timeout, counted from 0 (GRUB, grub4efi)")
    cfg.add_argument("--grub-version", metavar="VER",
                     help="ntloader: the version of the GRUB that will run the config (2.12 or "
                     "later: linux/initrd; 2.06: chainloader); default 2.12, with a warning")
    cfg.add_argument("--check-file", metavar="PATH",
                     help="loopback-test: a file inside the Windows partition to print")
    cfg.add_argument("--halt", action="store_true", help="loopback-test: power off afterwards")
    cfg.add_argument("--out", metavar="FILE", help="write the config here instead of stdout")
    cfg.add_argument("--force", action="store_true", help="overwrite --out")
    add_json(cfg)
    cfg.set_defaults(func=cmd_config)

    ent = bsub.add_parser("entry", help="add a UEFI boot entry for a loader (prints; --apply runs)",
                          description=r"Print (or with --apply run) the commands that add a UEFI "
                          r"firmware boot entry first in the boot order. Example: diskkit boot "
                          r"entry --loader '\EFI\ramos\grubx64.efi' --label RAMOS --platform "
                          "linux --disk /dev/nvme0n1 --part 1")
    ent.add_argument("--loader", required=True,
                     help=r"loader path on the ESP: \EFI\ramos\grubx64.efi")
    ent.add_argument("--label", required=True, help="the entry's name in the firmware menu")
    ent.add_argument("--platform", choices=["windows", "linux"],
                     help="which tool to use (default: this system's)")
    ent.add_argument("--disk", help="Linux: the disk holding the ESP (/dev/nvme0n1)")
    ent.add_argument("--part", type=int, metavar="N",
                     help="Linux: the ESP's partition number (default 1)")
    ent.add_argument("--apply", action="store_true",
                     help="run the commands now (needs administrator/root)")
    add_json(ent)
    ent.set_defaults(func=cmd_entry)


def cmd_config(args) -> int:
    facts = read_facts(args.vhd, args.part, allow_device=getattr(args, "device", False))
    target = chains.BootTarget.make(facts, args.vhd_path, args.title)
    version = chains.parse_version(args.grub_version) if args.grub_version else None
    rendered = chains.render(args.chain, target, timeout=args.timeout, default=args.default,
                             check_file=args.check_file, halt=args.halt, grub_version=version)
    for message in rendered.warnings:
        warn(message)
    if args.out:
        with atomic_output(args.out, args.force) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                fh.write(rendered.text)
    data = {"chain": rendered.chain, "filename": rendered.filename, "out": args.out,
            "vhd_path": target.vhd_path, "drive": target.drive, "title": target.title,
            "grub_version": args.grub_version, "notes": list(chains.get_chain(args.chain).notes),
            "facts": facts.to_dict(), "warnings": list(rendered.warnings),
            "text": rendered.text}
    if args.out:
        emit(args, data, f"wrote {args.out} ({rendered.chain}; the loader reads it as "
             f"{rendered.filename}); Windows partition {facts.windows_index} at byte offset "
             f"{facts.windows_offset}")
    else:
        emit(args, data, rendered.text.replace("\r\n", "\n").rstrip("\n"))
    return 0


def cmd_entry(args) -> int:
    plan = firmware.entry_commands(args.loader, args.label, args.platform, args.disk, args.part)
    outputs = firmware.apply(plan) if args.apply else None
    data = {"platform": plan.platform, "commands": plan.commands, "undo": plan.undo,
            "applied": bool(args.apply), "outputs": outputs}

    def text(_):
        lines = [plan.script()]
        if plan.platform == "windows" and not args.apply:
            lines.append(f"rem {firmware.NEW_ID}: the GUID the first command prints")
        lines.append(("rem" if plan.platform == "windows" else "#") + f" undo: {plan.undo}")
        if outputs:
            lines += ["", *outputs]
        return "\n".join(lines)

    emit(args, data, text)
    return 0
