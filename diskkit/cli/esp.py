"""`diskkit esp`: put a loader, its config and extra files on an EFI System Partition."""

from __future__ import annotations

import os
import tempfile

from ..boot import esp, grubimage
from ..boot.chains import LOADER_CHAINS, check_config, get_chain, parse_version
from ..boot.quoting import normalize_file_path
from ..errors import ImageIOError, UsageError
from ..fileio import check_new_output
from .common import add_json, emit, size_arg, warn


def _add_content_args(p) -> None:
    p.add_argument("--loader", metavar="FILE",
                   help="the x86-64 EFI loader to install (grubx64.efi, ...)")
    p.add_argument("--grub-mkimage", action="store_true",
                   help="build the chain's GRUB with grub-mkimage instead of --loader")
    p.add_argument("--chain", choices=LOADER_CHAINS,
                   help="the boot chain the loader serves: names the config the way its loader "
                   "reads it (grub.cfg, menu.lst) and, with --grub-mkimage, picks the modules "
                   "(default there: ntloader)")
    p.add_argument("--grub-modules", metavar="DIR",
                   help="with --grub-mkimage: the GRUB x86_64-efi module directory to build from "
                   "(another GRUB's, e.g. 2.12 or a1ive's fork; default this system's)")
    p.add_argument("--grub-version", metavar="VER",
                   help="with --grub-mkimage: GRUB's version when DIR's modinfo.sh does not say")
    p.add_argument("--loader-path", default=esp.DEFAULT_LOADER_PATH, metavar="ESP_PATH",
                   help=r"where the loader goes (default \EFI\ramos\grubx64.efi)")
    p.add_argument("--removable", action="store_true",
                   help=r"also install it as \EFI\BOOT\BOOTX64.EFI (boots with no NVRAM entry)")
    p.add_argument("--config", metavar="FILE",
                   help="config placed beside the loader, named as the chain's loader reads it")
    p.add_argument("--add", action="append", default=[], metavar="SRC=DEST",
                   help=r"extra file or directory (repeatable), e.g. "
                   r"ntloader=\EFI\ntloader\ntloader")
    add_json(p)


def register(sub):
    top = sub.add_parser("esp", help="build or create an EFI System Partition",
                         description="Install a UEFI loader, its config and extra files on an "
                         "ESP (a directory, a FAT image, or a partition of a disk image).")
    esub = top.add_subparsers(dest="esp_command", metavar="COMMAND")
    esub.required = True

    b = esub.add_parser("build", help="install files onto an existing ESP",
                        description=r"Example: diskkit esp build disk.vhd --loader grubx64.efi "
                        r"--chain ntloader --config grub.cfg --removable   (TARGET: S:\ after "
                        "mountvol S: /s, a FAT image, or a disk image whose ESP is found by type "
                        "or --part N)")
    b.add_argument("target", metavar="TARGET")
    b.add_argument("--part", type=int, metavar="N", help="partition number of the ESP in TARGET")
    b.add_argument("--force", action="store_true",
                   help="install a chain's loader even into a Windows (RAMOS) VHD's own ESP")
    _add_content_args(b)
    b.set_defaults(func=cmd_build)

    c = esub.add_parser("create", help="new GPT disk image with one ESP, filled in one go",
                        description="Example: diskkit esp create esp.vhd --size 256M --loader "
                        "BOOTX64.EFI --removable --chain ntloader --config grub.cfg   (*.vhd: "
                        "fixed VHD, else raw)")
    c.add_argument("out", metavar="OUT")
    c.add_argument("--size", type=size_arg, required=True, help="disk size, e.g. 256M")
    c.add_argument("--fat", type=int, choices=[12, 16, 32], help="FAT type (default: by size)")
    c.add_argument("--label", default="ESP", help="volume label (default ESP)")
    c.add_argument("--force", action="store_true", help="overwrite OUT")
    _add_content_args(c)
    c.set_defaults(func=cmd_create)


def _read_config(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError as exc:
        raise ImageIOError(f"--config {path}: {exc.strerror or exc}") from None


def _prepare(args, workdir: str):
    """Check everything, then build the GRUB (into ``workdir``); nothing on the ESP yet."""
    if bool(args.loader) == bool(args.grub_mkimage):
        raise UsageError("give exactly one of --loader FILE and --grub-mkimage")
    if not args.grub_mkimage and (args.grub_modules or args.grub_version):
        raise UsageError("--grub-modules and --grub-version go with --grub-mkimage")
    chain = get_chain(args.chain or "ntloader") if args.grub_mkimage else \
        (get_chain(args.chain) if args.chain else None)
    version = parse_version(args.grub_version) if args.grub_version else None
    notes = []
    if args.grub_mkimage:
        moddir, _ = grubimage.check(chain.name, args.grub_modules, version)
        version = version or moddir.version
        if args.config:
            notes += check_config(chain.name, _read_config(args.config), version)
    adds = [esp.parse_add(spec) for spec in args.add]
    if args.config:
        esp.config_name(args.config, chain)
    loader = args.loader or os.path.join(workdir, "grubx64.efi")
    if args.grub_mkimage:  # the image reads its config from its own folder
        prefix = os.path.dirname(normalize_file_path(args.loader_path, "--loader-path")[1])
        grubimage.build(loader, prefix, chain.name, args.grub_modules, version)
    return esp.plan(loader, args.loader_path, args.removable, args.config, adds, chain), chain, notes


def _emit(args, target: str, result: esp.Installed, notes: list[str]) -> int:
    for message in notes + result.warnings:
        warn(message)
    written = result.written
    emit(args, {"target": target, "written": written, "warnings": notes + result.warnings},
         "\n".join([f"{target}: wrote {len(written)} file(s)", *(f"  {w}" for w in written)]))
    return 0


def cmd_build(args) -> int:
    # the target first: a device, a missing ESP or a Windows image is refused before the rest
    opened = esp.open_esp(args.target, args.part, allow_device=getattr(args, "device", False))
    try:
        with tempfile.TemporaryDirectory(prefix="diskkit-esp-") as work:
            placements, chain, notes = _prepare(args, work)
            result = esp.fill(opened, placements, chain, args.force, args.target)
    finally:
        opened.esp.close()
    return _emit(args, args.target, result, notes)


def cmd_create(args) -> int:
    check_new_output(args.out, args.force)
    with tempfile.TemporaryDirectory(prefix="diskkit-esp-") as work:
        placements, chain, notes = _prepare(args, work)
        result = esp.create(args.out, args.size, placements, args.fat, args.label, args.force,
                            chain)
    return _emit(args, args.out, result, notes)
