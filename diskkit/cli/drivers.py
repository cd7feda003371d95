"""`diskkit drivers`: scan, pack and export Windows driver packages (DISM++ 驱动管理)."""

from __future__ import annotations

from ..units import format_size
from .common import add_json, emit, table


def register(sub):
    drivers = sub.add_parser("drivers", help="scan, filter, pack and export Windows drivers",
                             description="Windows driver packages (folders of .inf files, as "
                             "exported by pnputil or DISM++'s driver export, 驱动管理 -> 导出).")
    dsub = drivers.add_subparsers(dest="drivers_command", metavar="COMMAND")
    dsub.required = True

    p = dsub.add_parser("scan", help="list driver packages, their devices and boot-critical services",
                        description="Parse every INF under DIR: class, provider, version, "
                        "hardware IDs (amd64), boot-start services, size on disk.")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--hwids", metavar="FILE",
                   help="device IDs of the target machine: `pnputil /enum-devices /connected /ids "
                   "> hwids.txt`, or one ID per line; marks the matching packages")
    p.add_argument("--language", metavar="LLLL", help="localized [Strings.LLLL] to use, e.g. 0804")
    add_json(p)
    p.set_defaults(func=cmd_scan)

    p = dsub.add_parser("pack", help="copy the chosen packages and a manifest.json into a folder",
                        description="Copy driver packages into FOLDER for `dism /Image:V:\\ "
                        "/Add-Driver /Driver:FOLDER /Recurse` (or DISM++'s driver import). "
                        "A missing FOLDER is created. With filters, a package is kept "
                        "when it matches the machine (--only-matching) or is boot-critical "
                        "(--boot-critical).")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--out", required=True, metavar="FOLDER")
    p.add_argument("--hwids", metavar="FILE", help="device IDs (see `drivers scan --hwids`)")
    p.add_argument("--only-matching", action="store_true",
                   help="keep packages whose IDs match --hwids")
    p.add_argument("--boot-critical", action="store_true",
                   help="keep packages with a boot-start service (storage, bus)")
    p.add_argument("--force", action="store_true", help="replace a previous pack in FOLDER")
    add_json(p)
    p.set_defaults(func=cmd_pack)

    p = dsub.add_parser("export", help="export the running Windows' drivers (pnputil, else DISM)",
                        description="Windows only, as administrator: `pnputil /export-driver * "
                        "DEST`, falling back to `dism /online /export-driver`.")
    p.add_argument("dest", metavar="DEST")
    add_json(p)
    p.set_defaults(func=cmd_export)


def _hwids(args):
    if not args.hwids:
        return None
    from ..drivers import read_hwids

    return read_hwids(args.hwids)


def cmd_scan(args) -> int:
    from ..drivers import scan

    packages = scan(args.dir, _hwids(args), args.language)
    data = {"folder": args.dir, "packages": [p.to_dict() for p in packages],
            "total_size": sum(p.size for p in packages)}

    def text(_):
        rows = []
        for p in packages:
            infs = [e.inf for e in p.infs if e.inf]
            rows.append([p.path, ",".join(p.classes) or "-",
                         (infs[0].provider or "-") if infs else "-",
                         (infs[0].driver_version or "-") if infs else "-",
                         format_size(p.size), "boot" if p.boot_critical else "",
                         (f"match {len(p.matched_ids)}" if p.matched_ids else "-")
                         if args.hwids else ""])
        lines = [table(rows, ["PACKAGE", "CLASS", "PROVIDER", "VERSION", "SIZE", "START", "HWIDS"])]
        lines += [f"warning: {e.path}: {e.error}" for p in packages for e in p.infs if e.error]
        lines.append(f"{len(packages)} package(s), {format_size(data['total_size'])} on disk")
        return "\n".join(lines)

    emit(args, data, text)
    return 0


def cmd_pack(args) -> int:
    from ..drivers import pack

    summary = pack(args.dir, args.out, _hwids(args), args.only_matching, args.boot_critical,
                   args.force)
    emit(args, summary, lambda s: (
        f"packed {s['packages_packed']} of {s['packages_found']} package(s) into {args.out}: "
        f"{format_size(s['size_packed'])} of {format_size(s['size_found'])} "
        f"(saved {format_size(s['size_saved'])})\n"
        f"inject with: dism /Image:V:\\ /Add-Driver /Driver:{args.out} /Recurse "
        "(or DISM++: drivers, import)"))
    return 0


def cmd_export(args) -> int:
    from ..drivers import export_drivers

    result = export_drivers(args.dest)
    emit(args, result, f"exported drivers to {args.dest} with {result['tool']}")
    return 0
