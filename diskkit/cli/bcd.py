"""`diskkit bcd show`: a BCD store's objects and elements, as BOOTICE or bcdedit /enum all show them."""

from __future__ import annotations

from .common import add_json, emit


def cmd_show(args) -> int:
    from ..errors import ImageIOError
    from ..windows.bcd import read_store
    from ..windows.hive import hive_from_bytes, open_hive

    try:
        with open(args.source, "rb") as fh:
            is_hive = fh.read(4) == b"regf"
    except OSError as exc:
        raise ImageIOError(f"{args.source}: {exc.strerror or exc}") from None
    if is_hive:
        if args.part is not None:
            from ..errors import UsageError

            raise UsageError(f"{args.source}: is a BCD store file; --part applies to images")
        store = read_store(open_hive(args.source))
        where = args.source
    else:
        from ..windows.locate import find_bcd

        found = find_bcd(args.source, args.part, allow_device=args.device)
        where = f"{args.source}" + (f" partition {found.partition}" if found.partition else "") \
            + f" {found.path}"
        store = read_store(hive_from_bytes(found.data, where))
    data = {"source": where, **store.to_dict()}
    emit(args, data, lambda d: f"BCD store: {where}\n\n{store.to_text()}")
    return 0


def register(sub) -> None:
    bcd = sub.add_parser("bcd", help="read BCD boot stores (what BOOTICE and bcdedit show)",
                         description="Boot Configuration Data: the Windows boot manager's menu "
                         "and each entry's device, path and options, read offline.")
    bsub = bcd.add_subparsers(dest="bcd_command", metavar="COMMAND")
    bsub.required = True
    p = bsub.add_parser("show", help="list every object and element of a BCD store",
                        description="SOURCE is a BCD store file (\\EFI\\Microsoft\\Boot\\BCD, "
                        "\\Boot\\BCD) or a disk image: its ESP's store is shown, else the first "
                        "partition holding \\Boot\\BCD. Devices are shown by disk and partition "
                        "identity (GPT GUIDs, MBR signature + offset), as BOOTICE does. "
                        "Example: diskkit bcd show win.vhd")
    p.add_argument("source", metavar="STORE|IMAGE")
    p.add_argument("--part", type=int, metavar="N", help="look only in partition N of IMAGE")
    add_json(p)
    p.set_defaults(func=cmd_show)
