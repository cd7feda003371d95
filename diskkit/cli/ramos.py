"""`diskkit ramos`: plan, create and deploy a Windows VHD that boots from RAM (RAMOS)."""

from __future__ import annotations

import argparse
import sys

from ..errors import DiskkitError
from ..i18n import tr
from .common import add_json, add_lang, emit, size_arg, warn

CHAIN_HELP = ("boot chain: grub2-map, grub4efi (SVBus), ntloader, bootmgr-ramdisk (Microsoft "
              "ramdisk), vhd-native (file-backed); default grub2-map")


def _rate(text: str) -> float:
    """argparse ``type=`` for read speeds such as 1GB/s (a unit is required)."""
    from ..ramos.plan import parse_read_speed

    try:
        return parse_read_speed(text)
    except DiskkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub):
    from ..boot.chains import RAMOS_CHAINS as CHAINS

    ramos = sub.add_parser("ramos", help="RAMOS workflow: plan, init, deploy scripts, build",
                           description="Windows in a fixed VHD, loaded wholly into RAM at boot. "
                           "Guide: docs/ramos.md (中文: docs/ramos.zh-CN.md).")
    rsub = ramos.add_subparsers(dest="ramos_command", metavar="COMMAND")
    rsub.required = True

    p = rsub.add_parser("plan", help="RAM budget, load time, warnings and layout for a VHD size",
                        description="Pure arithmetic: nothing is written. With --from IMAGE, "
                        "the smallest VHD that holds the Windows in IMAGE (its NTFS's used "
                        "clusters + an MFT reserve + --headroom), the RAM and load time that "
                        "saves, and the steps to get there; with --ram too, the plan for that "
                        "size.")
    p.add_argument("--vhd-size", type=size_arg, metavar="SIZE", help="e.g. 5G")
    p.add_argument("--ram", type=size_arg, metavar="SIZE", help="e.g. 16G")
    p.add_argument("--from", dest="image", metavar="IMAGE",
                   help="size the VHD from the Windows already in IMAGE")
    p.add_argument("--part", type=int, metavar="N",
                   help="with --from: the Windows partition (default: the NTFS holding \\Windows)")
    p.add_argument("--headroom", type=size_arg, default=None, metavar="SIZE",
                   help="with --from: free space to leave for Windows (default 1G)")
    p.add_argument("--ssd-read", type=_rate, default=1e9, metavar="RATE",
                   help="sequential read speed of the disk holding the VHD (default 1GB/s)")
    p.add_argument("--chain", choices=CHAINS, default="grub2-map", help=CHAIN_HELP)
    p.add_argument("--vhd-type", choices=("fixed", "dynamic"), default="fixed")
    add_json(p)
    add_lang(p)
    p.set_defaults(func=cmd_plan)

    p = rsub.add_parser("init", help="create the fixed VHD with the chain's partition layout",
                        description="What DiskGenius' 'new virtual disk' or Disk Management's "
                        "'Create VHD' plus partitioning do, with the offsets the chain needs: "
                        "GPT with ESP (FAT32 100 MiB), MSR (16 MiB) and Windows for "
                        "grub2-map/grub4efi/vhd-native; MBR with one NTFS partition at 1 MiB for "
                        "ntloader/bootmgr-ramdisk. NTFS is formatted when mkntfs (ntfs-3g) is "
                        "installed, else by the deploy script. A missing folder is created.")
    p.add_argument("out", metavar="OUT.vhd")
    p.add_argument("--size", type=size_arg, required=True, metavar="SIZE")
    p.add_argument("--chain", choices=CHAINS, default="grub2-map", help=CHAIN_HELP)
    p.add_argument("--preallocate", action="store_true", default=None,
                   help="reserve all blocks (default on Windows, which refuses sparse VHDs)")
    p.add_argument("--no-ntfs", action="store_true", help="leave the Windows partition unformatted")
    p.add_argument("--force", action="store_true", help="overwrite OUT")
    add_json(p)
    add_lang(p)
    p.set_defaults(func=cmd_init)

    script = rsub.add_parser("script", help="write the Windows deploy or slim .cmd script")
    ssub = script.add_subparsers(dest="script_command", metavar="SCRIPT")
    ssub.required = True
    p = ssub.add_parser("deploy", help="attach, format, apply WIM, drivers, SVBus, registry, bcdboot",
                        description="What WinNTSetup / DISM++ do by hand, as a script. "
                        "Writes a .cmd for an elevated Windows prompt (or runs the "
                        "same steps with --run). On Linux, --run formats/applies the WIM with "
                        "wimlib into a local VHD and writes the rest as a .cmd for Windows.")
    p.add_argument("--vhd", required=True, help=r"the VHD as Windows sees it, e.g. D:\ramos\win.vhd")
    p.add_argument("--wim", required=True, help=r"install.wim (or .esd), e.g. E:\sources\install.wim")
    p.add_argument("--index", type=int, required=True, help="image index in the WIM")
    p.add_argument("--chain", choices=CHAINS, default="grub2-map", help=CHAIN_HELP)
    p.add_argument("--drivers", metavar="DIR", help="driver folder to inject (drivers pack output)")
    p.add_argument("--svbus", metavar="DIR", help="SVBus driver folder (grub2-map, grub4efi)")
    p.add_argument("--letters", default="VS", metavar="WE",
                   help="drive letters for Windows and the VHD's ESP (default VS: V: and S:)")
    p.add_argument("--out", metavar="FILE", help="write the .cmd here (default: print it)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.add_argument("--run", action="store_true", help="run the steps now (see description)")
    p.add_argument("--windows-path", metavar="PATH",
                   help=r"Linux --run: where the VHD will be on Windows (default D:\ramos\NAME); "
                   "--drivers and --svbus folders beside the VHD move with it")
    p.add_argument("--reformat", action="store_true",
                   help="Linux --run: format the Windows partition again before applying (a "
                   "second deploy onto a partition that holds files fails otherwise)")
    add_json(p)
    add_lang(p)
    p.set_defaults(func=cmd_deploy)

    p = ssub.add_parser("slim", help="in-VM tuning: hibernation, pagefile, restore, search, "
                        "SysMain off, cleanup, Compact OS",
                        description="The space-saving steps DISM++ offers (hibernation, pagefile, "
                        "System Restore, Windows Search and SysMain, provisioned apps, WinSxS "
                        "cleanup, Compact OS), as a .cmd to run inside the VM as administrator.")
    p.add_argument("--remove-apps", action="store_true",
                   help="also remove provisioned Store apps (keeps the Store and basics)")
    p.add_argument("--out", metavar="FILE", help="write the .cmd here (default: print it)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    add_lang(p)
    p.set_defaults(func=cmd_slim)

    p = ssub.add_parser("extend", help="grow a VHD's NTFS to fill its partition (diskpart)",
                        description="After 'diskkit resize IMAGE --size SIZE --grow-part N' the "
                        "partition is larger but its NTFS is not: this .cmd attaches the VHD "
                        "and runs diskpart 'extend filesystem' (Disk Management: Extend Volume) "
                        "on an elevated Windows prompt.")
    p.add_argument("--vhd", required=True, help=r"the VHD as Windows sees it, e.g. D:\ramos\win.vhd")
    p.add_argument("--part", type=int, required=True, metavar="N", help="partition number")
    p.add_argument("--with-partition", action="store_true",
                   help="also grow the partition into the free space after it (diskpart "
                   "'extend'), when the image was resized without --grow-part")
    p.add_argument("--out", metavar="FILE", help="write the .cmd here (default: print it)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    add_lang(p)
    p.set_defaults(func=cmd_extend)

    p = rsub.add_parser("doctor", help="check a RAMOS image offline before the first RAM boot "
                        "(exit 0 all pass, 1 any FAIL, 2 error)",
                        description="Reads the VHD, its partitions, its ESP and BCD, the Windows "
                        "inside (NTFS, registry, drivers) and, with --esp, the machine's ESP; "
                        "prints PASS/WARN/FAIL lines, each with why and the fixing command. "
                        "Example: diskkit ramos doctor win.vhd --chain grub2-map --ram 16G")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--chain", choices=CHAINS, help="the boot chain (default: guessed from the "
                   "layout, GPT grub2-map, MBR ntloader)")
    p.add_argument("--esp", metavar="DIR|IMAGE", help="the machine's ESP (mounted folder or "
                   "image) to check the outer layer: loader, config, ntloader files")
    p.add_argument("--ram", type=size_arg, metavar="SIZE", help="the target machine's RAM")
    p.add_argument("--hwids", metavar="FILE", help="pnputil /enum-devices /connected /ids "
                   "output of the target machine: its storage controllers must have drivers")
    p.add_argument("--html", metavar="OUT", help="also write one self-contained HTML page: "
                   "the disk to scale, the two boot layers, the checklist")
    add_json(p)
    add_lang(p)
    p.set_defaults(func=cmd_doctor)

    p = rsub.add_parser("build", help="run a ramos.toml recipe (skips steps already done)",
                        description="One declarative recipe: VHD, chain, drivers, WIM, ESP, "
                        "firmware entry. See fixtures/ramos.toml.")
    p.add_argument("recipe", metavar="ramos.toml")
    p.add_argument("--dry-run", action="store_true", help="print the steps without doing them")
    add_json(p)
    add_lang(p)
    p.set_defaults(func=cmd_build)


def cmd_plan(args) -> int:
    from ..errors import UsageError
    from ..ramos.plan import make_plan

    if args.image is None:
        if args.vhd_size is None or args.ram is None:
            raise UsageError(tr("give --vhd-size and --ram, or --from IMAGE"))
        if args.part is not None or args.headroom is not None:
            raise UsageError(tr("--part and --headroom go with --from IMAGE"))
        plan = make_plan(args.vhd_size, args.ram, args.ssd_read, args.chain, args.vhd_type)
        emit(args, plan.to_dict(), plan.to_text())
        return 0
    from ..ramos.shrink import DEFAULT_HEADROOM, measure, shrink_plan

    if args.vhd_size is not None:
        raise UsageError(tr("--from IMAGE computes the VHD size: leave out --vhd-size"))
    headroom = DEFAULT_HEADROOM if args.headroom is None else args.headroom
    shrink = shrink_plan(measure(args.image, args.part, allow_device=args.device), headroom,
                         args.ssd_read, args.chain)
    data, text = shrink.to_dict(), shrink.to_text()
    if args.ram is not None:
        size = max(shrink.vhd_size, shrink.recapture_size)  # the chain's layout must fit
        plan = make_plan(size, args.ram, args.ssd_read, args.chain, args.vhd_type)
        data["plan"] = plan.to_dict()
        text += "\n\n" + plan.to_text()
    emit(args, data, text)
    return 0


def cmd_init(args) -> int:
    from ..ramos.layout import init, layout_for

    result = init(args.out, args.size, args.chain, args.preallocate, args.force,
                  False if args.no_ntfs else None)
    for message in result["warnings"]:
        warn(message)

    def text(r):
        lines = [tr("created {image} (fixed VHD)", image=r["image"]),
                 layout_for(args.chain, args.size).to_text(),
                 "NTFS: " + (tr("formatted with mkntfs") if r["ntfs_formatted"] else
                             tr("not formatted (the deploy script's diskpart formats it)")),
                 tr("next steps:")]
        return "\n".join(lines + [f"  {i}. {s}" for i, s in enumerate(r["next_steps"], 1)])

    emit(args, result, text)
    return 0


def _write_script(args, text: str) -> None:
    from ..fileio import atomic_output

    if not args.out:
        sys.stdout.write(text.replace("\r\n", "\n"))
        return
    with atomic_output(args.out, args.force) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def cmd_deploy(args) -> int:
    from ..errors import UsageError
    from ..ramos import deploy

    req = deploy.DeployRequest(vhd=args.vhd, wim=args.wim, index=args.index, chain=args.chain,
                               drivers=args.drivers, svbus=args.svbus, letters=args.letters,
                               windows_path=args.windows_path, reformat=args.reformat)
    if args.reformat and (not args.run or sys.platform == "win32"):
        raise UsageError(tr("--reformat is for --run on Linux; the Windows script always "
                            "formats"))
    for message in deploy.warnings(req):
        warn(message)
    if not args.run:
        text = deploy.script_text(req)
        if args.json and not args.out:
            emit(args, {"script": text})
            return 0
        _write_script(args, text)
        if args.out:
            print(tr("wrote {out}: run it on Windows from an elevated prompt", out=args.out),
                  file=sys.stderr)
        return 0
    result = deploy.run(req, args.out, args.force, echo=lambda line: print(line, file=sys.stderr))
    if "steps" in result:
        emit(args, result, tr("all steps done; logs in {logs}", logs=result["logs"]))
        return 0
    emit(args, result, "\n".join(result["done"] + [
        tr("remaining for Windows (drivers, SVBus, registry, bcdboot): {script}",
           script=result["remaining_script"]),
        tr("  it expects the VHD at {path} (--windows-path); run it there as administrator",
           path=result["windows_path"])]))
    return 0


def cmd_slim(args) -> int:
    from ..ramos.windows import render_cmd, slim_script

    _write_script(args, render_cmd(slim_script(args.remove_apps)))
    if args.out:
        print(tr("wrote {out}: run it inside the VM as administrator", out=args.out),
              file=sys.stderr)
    return 0


def cmd_extend(args) -> int:
    from ..ramos.windows import extend_script, render_cmd

    _write_script(args, render_cmd(extend_script(args.vhd, args.part, args.with_partition)))
    if args.out:
        print(tr("wrote {out}: run it on Windows as administrator", out=args.out),
              file=sys.stderr)
    return 0


def cmd_doctor(args) -> int:
    from ..ramos.doctor import diagnose

    doc = diagnose(args.image, args.chain, args.esp, args.ram, args.hwids,
                   allow_device=args.device)
    if args.html:
        from ..htmlreport import page, write_page
        from ..ops.inspect import info

        write_page(args.html, page(info(args.image, allow_device=args.device), doc.to_dict()))
    emit(args, doc.to_dict(), doc.to_text())
    return doc.exit_code


def cmd_build(args) -> int:
    from ..ramos.recipe import build, load_recipe

    recipe = load_recipe(args.recipe)
    echo = None if args.progress is False else (lambda line: print(line, file=sys.stderr))
    results = build(recipe, dry_run=args.dry_run, echo=echo)
    emit(args, {"recipe": args.recipe, "dry_run": args.dry_run, "steps": results},
         "\n".join(f"[{tr(r['status']):>7}] {r['step']}: {r['detail']}" for r in results))
    return 0
