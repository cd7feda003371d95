"""Helpers every command module shares: sizes, --json output, opening images."""

from __future__ import annotations

import argparse
import sys

from ..errors import DiskkitError, UsageError
from ..units import format_size, parse_size


class Parser(argparse.ArgumentParser):
    """The parser of every diskkit command: options and positionals in any order.

    Python's parser fills an optional positional as empty once an option stands between it
    and the earlier ones (`fat ls -l esp.vhd --part 1 /EFI/BOOT` would end in "unrecognized
    arguments"); a command without subcommands is parsed intermixed instead. Subparsers made
    from this one are of this class too.
    """

    _intermixing = False

    def error(self, message: str):
        """A bad command line is one line too, naming the command and where help is."""
        from ..i18n import tr

        command = self.prog.partition(" ")[2]
        self.exit(2, f"diskkit: {tr('error')}: {command + ': ' if command else ''}{message} "
                     f"(see: {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        if self._subparsers is not None or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def size_arg(text: str) -> int:
    """argparse ``type=`` for sizes: ``64M`` -> bytes, with argparse's own error on failure."""
    try:
        return parse_size(text)
    except DiskkitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_new_image_options(parser: argparse.ArgumentParser) -> None:
    """--block-size, --preallocate and --force: how a new image file is laid out."""
    parser.add_argument("--block-size", type=size_arg, default=None,
                        help="block size of a dynamic VHD or a VHDX, a power of two (default "
                        "2M for VHD, 32M for VHDX)")
    parser.add_argument("--preallocate", action="store_true", default=None,
                        help="reserve every block of a raw or fixed image now (fast, no zero "
                        "writing; the default for VHDs on Windows, which refuses sparse VHD files)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def add_lang(parser: argparse.ArgumentParser, default=argparse.SUPPRESS) -> None:
    """--lang: the language of messages and reports (the global option, or after a command)."""
    from ..i18n import LANGUAGES

    parser.add_argument("--lang", choices=LANGUAGES, default=default,
                        help="messages and reports in this language (default: DISKKIT_LANG or "
                        "the locale); zh-CN: 简体中文")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def emit(args, data, text=None) -> None:
    """Print ``data`` as JSON with ``--json``, else ``text`` (a string or a callable)."""
    if getattr(args, "json", False):
        import json

        json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
        sys.stdout.write("\n")
        return
    if callable(text):
        text = text(data)
    if text:
        print(text)


def emit_json_array(items) -> None:
    """Print ``items`` exactly as ``emit`` prints a list with --json, one item at a time, so a
    long listing is never held whole."""
    import json

    first = True
    try:
        for item in items:
            text = json.dumps(item, indent=2, sort_keys=False, default=str)
            sys.stdout.write(("[\n  " if first else ",\n  ") + text.replace("\n", "\n  "))
            first = False
    except BaseException:
        if not first:  # an error part way leaves valid JSON (what was read) before its message
            sys.stdout.write("\n]\n")
        raise
    sys.stdout.write("[]\n" if first else "\n]\n")


def emit_lines(lines) -> None:
    """Print ``lines`` as they come, a few thousand at a time (long listings)."""
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == 4096:
            sys.stdout.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        sys.stdout.write("\n".join(batch) + "\n")


def table(rows: list[list[str]], header: list[str] | None = None) -> str:
    """Left-aligned text columns."""
    all_rows = ([header] if header else []) + [[str(c) for c in r] for r in rows]
    if not all_rows:
        return ""
    widths = [max(map(len, column)) for column in zip(*all_rows)]
    line = "  ".join(f"{{:<{w}}}" for w in widths).format  # one call per row (long listings)
    return "\n".join(line(*r).rstrip() for r in all_rows)


def open_volume(args, path: str, part: int | None = None, writable: bool = False,
                sector_size: int | None = None):
    """``image.open_volume`` honouring the global ``--device`` flag: the image, or its
    partition ``part``, as one device whose ``close`` closes the image."""
    from ..image import open_volume as _open

    return _open(path, part, writable, getattr(args, "device", False), sector_size)


def open_filesystem(args, path: str, writable: bool = False):
    """The volume a ``fat`` or ``ntfs`` command works on: partition ``args.part``; without
    --part the whole image when it has no partition table (or one without data partitions,
    as a damaged superfloppy can look), else its one data partition (``args.part`` is set to
    it). Several are listed for the user to pick, never guessed among."""
    if args.part is not None:
        return open_volume(args, path, args.part, writable)
    dev = open_volume(args, path, None, writable)
    try:
        if next(iter(dev.allocated_ranges()), None) is None:
            return dev  # all holes (a new image for mkfs): no table to read, nor its code to load
        from ..part import partition_device, types, volumes

        found = [v for v in volumes(dev) if v.partition is None or not types.is_msr(v.partition)]
        if not found or found[0].partition is None:
            return dev
        if len(found) == 1:
            args.part = found[0].index
            return partition_device(dev, args.part, owns_parent=True)
        listed = "; ".join(f"{v.index}: {v.partition.type_name}, {format_size(v.partition.size)}"
                           for v in found)
        raise UsageError(f"{path} has {len(found)} data partitions ({listed}): pick one with "
                         "--part N")
    except BaseException:
        dev.close()
        raise


def emit_report(args, report) -> int:
    """Print a check ``Report`` (text or --json) and return its exit code (0 clean, 1 problems)."""
    emit(args, report.to_dict(), report.to_text())
    return report.exit_code


def warn(message: str) -> None:
    from ..i18n import tr

    print(f"diskkit: {tr('warning')}: {message}", file=sys.stderr)
