"""``diskkit`` entry point: builds the parser from one module per command group."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

from .. import __version__, i18n, progress
from ..errors import DiskkitError
from .common import Parser, add_lang

# Each module defines ``register(subparsers)`` and gives every command ``func(args) -> int``.
COMMAND_MODULES = ["vhd", "vhdx", "part", "fat", "ntfs", "convert", "resize", "inspect", "vmdk",
                   "esp", "boot", "ramos", "drivers", "vm", "bcd", "synth"]
# Top-level commands a module registers under another name than its own.
COMMAND_OWNERS = {"compact": "convert", "info": "inspect", "check": "inspect"}
GC_THRESHOLD = 20_000  # allocations between young-generation collections (Python's default: 700)


def _words(argv: list[str] | None) -> list[str]:
    """The words of ``argv`` that may name commands (options and their values aside)."""
    return [w for w in argv or () if not w.startswith("-")]


def _modules_for(argv: list[str] | None) -> list[str]:
    """Only the module that owns the command in ``argv``, so start-up stays short; else all."""
    words = _words(argv)
    if words:
        owner = COMMAND_OWNERS.get(words[0], words[0])
        if owner in COMMAND_MODULES:
            return [owner]
    return COMMAND_MODULES


class _Unneeded:
    """The parser of a command the command line does not name: takes every call a module's
    ``register`` makes (add_argument, set_defaults, add_subparsers ...) and does nothing."""

    def __getattr__(self, name):
        return self._ignore

    def _ignore(self, *args, **kwargs):
        return self


class _OnlyNamed:
    """A subparsers action that builds only the parser of the command ``words[0]`` names.

    argparse makes a whole parser per command, with a formatter per option: building every
    command of a group was a quarter of a short command's time beyond the interpreter. The
    command's own subcommands are narrowed the same way by ``words[1:]``; each level notes in
    ``levels`` whether its name was found, so a mistyped one gets the full parser's error.
    """

    def __init__(self, action, words: list[str], levels: list):
        self.action, self.words, self.levels = action, words, levels
        self.found = False
        levels.append(self)

    def __setattr__(self, name, value):
        if name in ("action", "words", "levels", "found"):
            object.__setattr__(self, name, value)
        else:  # ``required`` and the like belong to the real action
            setattr(self.action, name, value)

    def add_parser(self, name: str, **kwargs):
        if self.words[0] != name and self.words[0] not in kwargs.get("aliases", ()):
            return _Unneeded()
        self.found = True
        parser = self.action.add_parser(name, **kwargs)
        rest, add_subparsers = self.words[1:], parser.add_subparsers
        if rest:  # this parser's own add_subparsers narrows to the next word
            parser.add_subparsers = lambda **kw: _OnlyNamed(add_subparsers(**kw), rest,
                                                            self.levels)
        return parser


def build_parser(argv: list[str] | None = None, narrow: bool = True) -> argparse.ArgumentParser:
    """The parser for ``argv``'s command (only its module, and in it only the commands
    ``argv`` names when ``narrow``), or for every command when ``argv`` is None."""
    parser = Parser(
        prog="diskkit",
        description="Build, inspect, resize and convert disk images (VHD, GPT/MBR, FAT) and "
        "lay out UEFI RAM-boot media. Sizes take 512, 64M, 5G, 1.5T, 100MiB, 4GB (decimal), 2048s.",
    )
    parser.add_argument("--version", action="version", version=f"diskkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    add_lang(parser, default=None)
    parser.add_argument("--device", action="store_true",
                        help="allow writing to block/character devices (off by default)")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show progress bars")
    bar.add_argument("--quiet", "-q", dest="progress", action="store_false",
                     help="never show progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    modules, words, levels = _modules_for(argv), _words(argv), []
    commands = _OnlyNamed(sub, words, levels) if narrow and modules != COMMAND_MODULES else sub
    for name in modules:
        importlib.import_module(f"{__package__}.{name}").register(commands)
    if not all(level.found for level in levels):
        return build_parser(argv, narrow=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # a command keeps most of what it allocates (a listing's entries, a tree's names): the
    # default collection every 700 allocations rescanned them for 8% of `ntfs ls -r`
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    i18n.set_language(i18n.from_argv(argv))
    args = build_parser(argv).parse_args(argv)
    progress.set_enabled(args.progress)
    try:
        return int(args.func(args) or 0)
    except DiskkitError as exc:
        if args.debug:
            raise
        print(f"diskkit: {i18n.tr('error')}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("diskkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the host refused (missing file, permissions): bad input, one line
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"diskkit: {i18n.tr('error')}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug in diskkit, not bad input: still one line unless --debug
        if args.debug:
            raise
        print(f"diskkit: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for a traceback and please report it)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
