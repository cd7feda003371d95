"""`diskkit esp`: put a loader, its config and extra files on an EFI System Partition."""

from __future__ import annotations

import os
import tempfile

from ..boot import esp, grubimage
from ..boot.chains import CHAINS
from ..boot.quoting import normalize_file_path
from ..errors import UsageError
from .common import add_json, emit, size_arg, warn

GRUB_CHAINS = [name for name, c in CHAINS.items() if c.grub_modules is not None]


def _add_content_args(p) -> None:
    p.add_argument("--loader", metavar="FILE", help="the EFI loader to install (grubx64.efi, ...)")
    p.add_argument("--grub-mkimage", action="store_true",
                   help="build the GRUB loader from this system's GRUB modules instead of --loader")
    p.add_argument("--chain", choices=GRUB_CHAINS, default="ntloader",
                   help="with --grub-mkimage: whose module list to build in (default ntloader)")
    p.add_argument("--loader-path", default=esp.DEFAULT_LOADER_PATH, metavar="ESP_PATH",
                   help=r"where the loader goes (default \EFI\ramos\grubx64.efi)")
    p.add_argument("--removable", action="store_true",
                   help=r"also install it as \EFI\BOOT\BOOTX64.EFI (boots with no NVRAM entry)")
    p.add_argument("--config", metavar="FILE",
                   help="config placed beside the loader under its own name (grub.cfg, menu.lst)")
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
                        r"--config grub.cfg --removable   (TARGET: S:\ after mountvol S: /s, a "
                        "FAT image, or a disk image whose ESP is found by type or --part N)")
    b.add_argument("target", metavar="TARGET")
    b.add_argument("--part", type=int, metavar="N", help="partition number of the ESP in TARGET")
    _add_content_args(b)
    b.set_defaults(func=cmd_build)

    c = esub.add_parser("create", help="new GPT disk image with one ESP, filled in one go",
                        description="Example: diskkit esp create esp.vhd --size 256M --loader "
                        "BOOTX64.EFI --removable --config grub.cfg   (*.vhd: fixed VHD, "
                        "else raw)")
    c.add_argument("out", metavar="OUT")
    c.add_argument("--size", type=size_arg, required=True, help="disk size, e.g. 256M")
    c.add_argument("--fat", type=int, choices=[12, 16, 32], help="FAT type (default: by size)")
    c.add_argument("--label", default="ESP", help="volume label (default ESP)")
    c.add_argument("--force", action="store_true", help="overwrite OUT")
    _add_content_args(c)
    c.set_defaults(func=cmd_create)


def _placements(args, workdir: str) -> list[esp.Placement]:
    if bool(args.loader) == bool(args.grub_mkimage):
        raise UsageError("give exactly one of --loader FILE and --grub-mkimage")
    loader = args.loader
    if args.grub_mkimage:
        loader = os.path.join(workdir, "grubx64.efi")
        prefix = os.path.dirname(normalize_file_path(args.loader_path, "--loader-path")[1])
        for message in grubimage.build(loader, prefix, args.chain):
            warn(message)
    adds = [esp.parse_add(spec) for spec in args.add]
    return esp.plan(loader, args.loader_path, args.removable, args.config, adds)


def _emit(args, target: str, written: list[str]) -> int:
    emit(args, {"target": target, "written": written},
         "\n".join([f"{target}: wrote {len(written)} file(s)", *(f"  {w}" for w in written)]))
    return 0


def cmd_build(args) -> int:
    with tempfile.TemporaryDirectory(prefix="diskkit-esp-") as work:
        written = esp.build(args.target, _placements(args, work), args.part,
                            allow_device=getattr(args, "device", False))
    return _emit(args, args.target, written)


def cmd_create(args) -> int:
    with tempfile.TemporaryDirectory(prefix="diskkit-esp-") as work:
        written = esp.create(args.out, args.size, _placements(args, work), args.fat, args.label,
                             args.force)
    return _emit(args, args.out, written)
