"""The RAM-boot chains: every fact diskkit knows about each one, and its config renderer.

Each chain is described once in ``CHAINS`` — which loader reads its config and under what
name, whether the VHD must be fixed, who shows Windows its RAM disk, which GRUB modules each
GRUB flavour needs, what was seen to fail and when — and rendered by ``render``, a pure
function from facts to text. Every value that comes from the user or the image passes through
``quoting``; every menu also offers the installed Windows, firmware setup and reboot. What was
observed with the real loaders: docs/chains/<chain>.md.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .. import __version__
from ..errors import Unsupported, UsageError
from ..units import GiB, MiB, format_size
from .quoting import (check_text, cmd_quote, comment_text, grub_word, menulst_path,
                      menulst_title, normalize_file_path, windows_path)
from .target import VhdFacts

INSTALLED_WINDOWS_LOADER = "/EFI/Microsoft/Boot/bootmgfw.efi"
NTLOADER_DIR = "/EFI/ntloader"
# Namespace for the BCD entry ids we mint, so re-rendering the same target gives the same id.
_BCD_NAMESPACE = uuid.UUID("5d1c2a64-3f0e-4b8e-9a57-6b1f4c2d9e10")

# -- GRUB flavours ---------------------------------------------------------------------------
# A GRUB is known by its module directory (boot/grubimage.py reads it): upstream GRUB by the
# version in its modinfo.sh, a1ive's fork by its ``map`` module, which upstream has not.
GRUB_206 = "grub-2.06"      # upstream 2.06 up to 2.11 (Debian 12 ships 2.06)
GRUB_212 = "grub-2.12"      # upstream 2.12 and later (Debian 13)
A1IVE = "a1ive"             # github.com/a1ive/grub, unmaintained, 2.11-based master
GRUB_FLAVOURS = {GRUB_206: "upstream GRUB 2.06 to 2.11", GRUB_212: "upstream GRUB 2.12 or later",
                 A1IVE: "a1ive's GRUB2 fork (github.com/a1ive/grub)"}
# ntloader's own docs: `linux`/`initrd` starts it from GRUB >= 2.12; below, `chainloader`.
NTLOADER_LINUX_FORM_SINCE = (2, 12)


_VERSION = re.compile(r"^(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int]:
    """``2.12``, ``2.06-13+deb12u2``, ``2.12~rc1`` -> (2, 12); anything else is a usage error."""
    match = _VERSION.match(text.strip())
    if not match:
        raise UsageError(f"GRUB version {text!r}: expected a version like 2.06 or 2.12")
    return int(match.group(1)), int(match.group(2))


def format_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]:02d}"


def grub_flavour(version: tuple[int, int] | None, modules) -> str | None:
    """The flavour of a GRUB with these modules; None for an unknown or too old upstream."""
    if "map" in modules:
        return A1IVE
    if version is None or version < (2, 6):
        return None
    return GRUB_212 if version >= NTLOADER_LINUX_FORM_SINCE else GRUB_206


# Modules every GRUB chain's menu uses (search, chainload, firmware setup, reboot).
GRUB_BASE_MODULES = ("part_gpt", "part_msdos", "fat", "ntfs", "exfat", "normal", "configfile",
                     "echo", "test", "search", "search_fs_file", "search_fs_uuid",
                     "search_label", "chain", "efifwsetup", "reboot", "halt", "ls", "cat",
                     "probe", "all_video", "sleep")
# The fork has no efifwsetup: its `fwsetup` command lives in `reboot`.
A1IVE_BASE_MODULES = tuple(m for m in GRUB_BASE_MODULES if m != "efifwsetup")

# -- what the loaders were seen to do (docs/chains/*.md; notes/loaders-observed.md) -------------
NTLOADER_MIN_VERSION = "3.0.0"
NTLOADER_VERSION_NOTE = (
    "ntloader v3.0.0 (February 2025) or later is needed: ram= and imgofs= do not exist in "
    "older releases, which stop with `Unrecognised argument \"ram=...\"`; get the current "
    "release from github.com/grub4dos/ntloader")
SVBUS_NOTE = ("the SVBus driver must be installed inside the image, or Windows stops with "
              "INACCESSIBLE_BOOT_DEVICE (0x7B) at the first RAM boot")
DYNAMIC_VHD_TRADE = ("a dynamic VHD is a smaller file to read at boot (load time = file size / "
                     "disk speed), but the RAM disk still takes the full virtual size")


@dataclass(frozen=True)
class SizeLimit:
    """A VHD size a chain was seen to fail at; ``size_warning`` words it for the user."""

    fails_from: int          # VHDs of this size or larger failed
    largest_loaded: int      # the largest VHD seen to load
    smallest_failed: int     # the smallest VHD seen to fail
    error: str               # what the loader showed
    seen_with: str           # the setup it was seen with
    carried_more: tuple[str, ...]  # chains seen to carry more
    carried: int             # how much they carried


MS_RAMDISK_4GIB = SizeLimit(
    fails_from=4 * GiB, largest_loaded=3990 * MiB, smallest_failed=4200 * MiB,
    error="0xc00000bb (\"A required device isn't connected or can't be accessed\")",
    seen_with="ntloader v3.0.7 with the boot manager it bundles (10.0.20348) under QEMU + OVMF, "
              "VHD on an NTFS partition, 12-16 GiB of RAM; real machines and other boot "
              "manager builds are unverified",
    carried_more=("grub2-map", "grub4efi"), carried=5 * GiB)


@dataclass(frozen=True)
class BootTarget:
    """The VHD facts plus where the file sits on the host and how the menu names it."""

    facts: VhdFacts
    vhd_path: str            # "/ramos/win.vhd" on the host partition
    drive: str | None        # "D:" when the user gave one (needed by BCD chains)
    title: str

    @classmethod
    def make(cls, facts: VhdFacts, vhd_path: str, title: str = "RAMOS") -> "BootTarget":
        drive, path = normalize_file_path(vhd_path, "--vhd-path")
        title = check_text(check_text(title, "--title").strip(), "--title")
        # GRUB parses a leading '-' as a menuentry option, quoted or not; grub4dos reads a
        # leading '=' as the separator after 'title'.
        if title[0] in "-=":
            raise UsageError(f"--title {title!r}: must not start with '{title[0]}'")
        return cls(facts, path, drive, title)


@dataclass(frozen=True)
class Rendered:
    chain: str
    filename: str            # the name the loader looks for (grub.cfg, menu.lst, ...)
    text: str
    warnings: tuple[str, ...] = ()


SVBUS = "svbus"            # the third-party SVBus driver finds the loader's RAM disk
MS_RAMDISK = "ms-ramdisk"  # Microsoft's own ramdisk.sys, set up by the boot manager


@dataclass(frozen=True)
class Chain:
    """Everything diskkit knows about one boot chain; the one home of these facts."""

    name: str
    summary: str
    filename: str                   # the config's name the loader reads
    language: str                   # grub | menulst | cmd
    renderer: Callable[["BootTarget", dict, list], str] = field(repr=False)
    in_ram: bool = True             # the whole VHD is copied into RAM at boot
    ram_driver: str | None = None   # SVBUS | MS_RAMDISK: who shows Windows its RAM disk
    vhd_table: str | None = None    # gpt | mbr: the layout `ramos init` makes; None: no RAMOS
    boots_vhd_esp: bool = False     # starts \EFI\BOOT\BOOTX64.EFI inside the VHD
    # The loader reads the VHD file flat: a dynamic VHD's metadata would be its "disk".
    needs_fixed: bool = False
    # What a dynamic VHD needs besides the chain itself, where it is accepted at all.
    dynamic_needs: str | None = None
    # GRUB modules per GRUB flavour (GRUB_206, GRUB_212, A1IVE); empty: not a GRUB chain.
    grub_modules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    grub_needs: str | None = None   # which GRUB, in words, for messages
    esp_files: tuple[str, ...] = ()  # what the config loads from the ESP besides GRUB
    size_limit: SizeLimit | None = None
    # The largest VHD known to have loaded through this chain, and where that was seen.
    largest_seen: tuple[int, str] | None = None
    notes: tuple[str, ...] = ()     # what the user must know before the first boot

    @property
    def needs_svbus(self) -> bool:
        return self.ram_driver == SVBUS

    @property
    def ms_ramdisk(self) -> bool:
        return self.ram_driver == MS_RAMDISK

    @property
    def is_grub(self) -> bool:
        return bool(self.grub_modules)


def _describe(target: BootTarget) -> list[str]:
    f = target.facts
    guid = f" (partition GUID {f.windows_guid})" if f.windows_guid else ""
    return [
        f"Generated by diskkit {__version__} from {comment_text(f.image)}",
        f"{f.container} image, {f.disk_size} bytes, {f.table.upper()}"
        + (f" disk GUID {f.disk_guid}" if f.disk_guid else ""),
        f"Windows partition {f.windows_index} at byte offset {f.windows_offset}, "
        f"{f.windows_size} bytes{guid}",
        f"VHD file on the host partition: {comment_text(target.vhd_path)}",
    ]


# -- GRUB script -----------------------------------------------------------------------------

def _grub_header(target: BootTarget, opts: dict) -> list[str]:
    return [*(f"# {line}" for line in _describe(target)),
            f"set timeout={int(opts.get('timeout', 5))}",
            f"set default={int(opts.get('default', 0))}", ""]


def _grub_entry(title: str, body: list[str], cls: str | None = None) -> list[str]:
    opts = f" --class {cls}" if cls else ""
    return [f"menuentry {grub_word(title)}{opts} {{", *(f"    {b}" for b in body), "}", ""]


def _grub_common_entries() -> list[str]:
    """Installed Windows, firmware setup, reboot: offered by every GRUB menu."""
    loader = grub_word(INSTALLED_WINDOWS_LOADER)
    return [
        *_grub_entry("Windows (installed on this PC)", [
            f"search --no-floppy --set=root --file {loader}",
            f"chainloader {loader}"], "windows"),
        *_grub_entry("UEFI firmware setup", ["fwsetup"], "efi"),
        *_grub_entry("Reboot", ["reboot"], "restart"),
    ]


def _find_vhd(target: BootTarget, var: str) -> str:
    return f"search --no-floppy --set={var} --file {grub_word(target.vhd_path)}"


def render_grub2_map(target: BootTarget, opts: dict, warnings: list) -> str:
    path = grub_word(target.vhd_path)
    body = [_find_vhd(target, "root"),
            f"echo {grub_word('Copying ' + target.vhd_path + ' into RAM ...')}",
            f"map --mem --rt {path}"]
    return "\n".join([*_grub_header(target, opts),
                      *_grub_entry(f"{target.title} (RAM, SVBus)", body, "windows"),
                      *_grub_common_entries()])


def ntloader_path(path: str) -> str:
    """A path as ntloader reads it from its command line: ':' stands for a space (FAT and
    NTFS names cannot hold ':', so it is never ambiguous)."""
    return path.replace(" ", ":")


def render_ntloader(target: BootTarget, opts: dict, warnings: list) -> str:
    """``linux``/``initrd`` for GRUB >= 2.12; ``chainloader ... initrd=...`` below, where
    ntloader reads initrd.cpio itself (its docs' form for GRUB < 2.12 on UEFI).

    ``grub_version`` (a tuple) picks the form; ``loader_args`` are appended to ntloader's
    command line (its own options such as ``pause`` or ``text``).
    """
    version = opts.get("grub_version")
    ntloader, initrd = f"{NTLOADER_DIR}/ntloader", f"{NTLOADER_DIR}/initrd.cpio"
    args = ['"uuid=$vhd_uuid"', grub_word("ram=" + ntloader_path(target.vhd_path)),
            f"imgofs={target.facts.windows_offset}",
            *(grub_word(check_text(a, "loader argument")) for a in opts.get("loader_args", ()))]
    body = [f"search --no-floppy --set=root --file {grub_word(ntloader)}",
            _find_vhd(target, "vhd_dev"),
            'probe --set=vhd_uuid --fs-uuid "$vhd_dev"']
    if version is None or tuple(version) >= NTLOADER_LINUX_FORM_SINCE:
        body += [f"linux {grub_word(ntloader)} {' '.join(args)}", f"initrd {grub_word(initrd)}"]
        if version is None:
            warnings.append("GRUB's version not given: the entry starts ntloader with "
                            "linux/initrd, which needs GRUB 2.12 or later (an older GRUB resets "
                            "the machine); for GRUB 2.06 give --grub-version 2.06")
    else:
        body.append(f"chainloader {grub_word(ntloader)} {grub_word('initrd=' + initrd)} "
                    + " ".join(args))
        if not target.vhd_path.isascii():
            warnings.append(f"--vhd-path {target.vhd_path!r} is not plain ASCII: GRUB before "
                            "2.12 garbles non-ASCII characters on ntloader's command line "
                            "(ntloader's docs); rename the folder/file or use GRUB 2.12 or later")
    return "\n".join([*_grub_header(target, opts),
                      *_grub_entry(f"{target.title} (RAM, Microsoft ramdisk)", body, "windows"),
                      *_grub_common_entries()])


def _loop_partition(facts: VhdFacts, index: int) -> str:
    return f"(vhd_loop,{'gpt' if facts.table == 'gpt' else 'msdos'}{index})"


def render_loopback_test(target: BootTarget, opts: dict, warnings: list) -> str:
    """Upstream GRUB only: find the VHD, open it with loopback, show what GRUB sees inside.

    ``check_file`` (a path inside the Windows partition) is printed with ``cat``; the second
    entry chainloads the VHD's own \\EFI\\BOOT\\BOOTX64.EFI. ``halt`` powers off afterwards
    (for unattended VM tests). Windows itself cannot boot this way: a chainloaded loader does
    not see GRUB's loopback disk.
    """
    facts = target.facts
    open_vhd = [_find_vhd(target, "vhd_dev"),
                f'loopback vhd_loop "($vhd_dev)"{grub_word(target.vhd_path)}',
                "ls (vhd_loop)"]
    check = [*open_vhd]
    check_file = opts.get("check_file")
    if check_file:
        _, inner = normalize_file_path(check_file, "check file")
        check.append(f"cat {_loop_partition(facts, facts.windows_index)}{grub_word(inner)}")
    check.append("echo")
    check.append(f"echo {grub_word('diskkit-loopback-done')}")
    halt = ["halt"] if opts.get("halt") else []
    entries = _grub_entry(f"{target.title}: check the VHD with loopback", check + halt)
    if facts.esp_index is not None:
        efi = f"{_loop_partition(facts, facts.esp_index)}/EFI/BOOT/BOOTX64.EFI"
        entries += _grub_entry(f"{target.title}: chainload the VHD's own EFI loader (test only)",
                               [*open_vhd, f"chainloader {efi}", "boot", *halt])
    return "\n".join([*_grub_header(target, opts), *entries,
                      *_grub_common_entries()])


# -- grub4dos menu.lst ---------------------------------------------------------------------------

def render_grub4efi(target: BootTarget, opts: dict, warnings: list) -> str:
    lines = [*(f"# {line}" for line in _describe(target)),
             f"timeout {int(opts.get('timeout', 5))}", f"default {int(opts.get('default', 0))}", "",
             f"title {menulst_title(target.title + ' (RAM, SVBus)')}",
             f"find --set-root {menulst_path(target.vhd_path)}",
             f"map --mem --top {menulst_path(target.vhd_path)} (hd)",
             "chainloader (hd-1)", "",
             "title Windows (installed on this PC)",
             f"find --set-root {INSTALLED_WINDOWS_LOADER}",
             f"chainloader {INSTALLED_WINDOWS_LOADER}", "",
             # grub4efi has no fwsetup: leaving it returns to the firmware's boot menu/setup.
             "title UEFI firmware (leave grub4efi)", "exit_g4d", "",
             "title Reboot", "reboot", ""]
    return "\n".join(lines)


# -- Windows Boot Manager (bcdedit .cmd scripts) -------------------------------------------------

def bcd_entry_id(target: BootTarget, chain: str) -> str:
    """A stable BCD id for this target, so the script and its undo line agree across runs."""
    f = target.facts
    key = f"{chain}|{f.disk_guid or f.windows_offset}|{f.windows_guid or f.windows_size}|" \
          f"{target.drive}|{target.vhd_path}"
    return "{" + str(uuid.uuid5(_BCD_NAMESPACE, key)) + "}"


def _bcdedit_steps(*commands: str) -> list[str]:
    """Each bcdedit run, then the check that sends a failure to :fail (by exit code)."""
    return [line for command in commands for line in (command, "if errorlevel 1 goto fail")]


def _cmd_lines(target: BootTarget, chain: str, device: str, note: str,
               options: tuple[str, list[str]] | None = None) -> str:
    """A bcdedit script adding one OS-loader entry; ``options`` is ``(id, settings)`` of a
    device options object the entry's device refers to, made for this entry alone.

    A failing step undoes what the script made (the entry, the options object) and names
    the one global setting that may stay (the boot menu shown).
    """
    entry = bcd_entry_id(target, chain)
    undo = f"bcdedit /delete {entry}" + (f" & bcdedit /delete {options[0]}" if options else "")
    lines = ["@echo off", *(f"rem {line}" for line in _describe(target)),
             f"rem {note}",
             f"rem Undo: {undo}",
             "setlocal EnableExtensions DisableDelayedExpansion",
             "chcp 65001 >nul",
             "net session >nul 2>&1 || (echo Run this script as administrator. & exit /b 1)",
             f"bcdedit /enum {entry} >nul 2>&1",
             f"if not errorlevel 1 (echo Entry {entry} exists already; remove it with: "
             f"bcdedit /delete {entry} & exit /b 1)"]
    if options:
        opt_id, settings = options
        lines += [f"bcdedit /enum {opt_id} >nul 2>&1",
                  "if not errorlevel 1 goto options_made",
                  *_bcdedit_steps(f"bcdedit /create {opt_id} /d "
                                  f"{cmd_quote(target.title + ' ramdisk options', '--title')} "
                                  "/device"),
                  'set "DK_MADE_OPTIONS=1"',
                  ":options_made",
                  *_bcdedit_steps(*settings)]
    lines += [*_bcdedit_steps(f"bcdedit /create {entry} /d {cmd_quote(target.title, '--title')} "
                              "/application osloader"),
              'set "DK_MADE_ENTRY=1"',
              *_bcdedit_steps(f"bcdedit /set {entry} device {device}",
                              f"bcdedit /set {entry} osdevice {device}",
                              f"bcdedit /set {entry} path \\Windows\\system32\\winload.efi",
                              f"bcdedit /set {entry} systemroot \\Windows",
                              f"bcdedit /set {entry} detecthal on",
                              f"bcdedit /set {entry} winpe off",
                              # addlast keeps the installed Windows as the default and in the menu.
                              f"bcdedit /displayorder {entry} /addlast",
                              "bcdedit /set {bootmgr} displaybootmenu yes"),
              'set "DK_MENU_SHOWN=1"',
              *_bcdedit_steps("bcdedit /timeout 10"),
              f"echo Added {entry} to the Windows Boot Manager menu.",
              "echo Firmware setup from Windows: shutdown /r /fw /t 0",
              "exit /b 0",
              ":fail",
              "echo bcdedit failed at the step above; undoing what this script made.",
              f"if defined DK_MADE_ENTRY bcdedit /delete {entry} >nul 2>&1"]
    if options:
        lines.append(f"if defined DK_MADE_OPTIONS bcdedit /delete {options[0]} >nul 2>&1")
    lines += ["if defined DK_MENU_SHOWN echo The boot menu stays shown "
              "(bcdedit /set {bootmgr} displaybootmenu no hides it again).",
              "echo Nothing else was changed.",
              "exit /b 1", ""]
    return "\r\n".join(lines)


def _drive(target: BootTarget) -> str:
    return target.drive or "C:"


def ramdisk_options_id(target: BootTarget) -> str:
    """The RAMOS entry's own device options object: the shared {ramdiskoptions} would move
    the offset of every other ramdisk entry (a WinPE's) along with it."""
    return bcd_entry_id(target, "bootmgr-ramdisk/ramdisk-options")


def render_bootmgr_ramdisk(target: BootTarget, opts: dict, warnings: list) -> str:
    offset = target.facts.windows_offset
    file_ref = f"[{_drive(target)}]{windows_path(target.vhd_path)}"
    opt_id = ramdisk_options_id(target)
    settings = [f"bcdedit /set {opt_id} ramdiskimageoffset {offset}",
                f"bcdedit /set {opt_id} exportascd false"]
    device = cmd_quote(f"ramdisk={file_ref},{opt_id}", "--vhd-path")
    return _cmd_lines(target, "bootmgr-ramdisk", device,
                      "RAM boot through Microsoft's ramdisk: the whole VHD is read into RAM.",
                      (opt_id, settings))


def render_vhd_native(target: BootTarget, opts: dict, warnings: list) -> str:
    device = cmd_quote(f"vhd=[{_drive(target)}]{windows_path(target.vhd_path)}", "--vhd-path")
    return _cmd_lines(target, "vhd-native", device,
                      "Native (file-backed) VHD boot: Windows runs from the file, not from RAM.")


CHAINS: dict[str, Chain] = {c.name: c for c in [
    Chain("grub2-map", "a1ive GRUB2 'map --mem --rt' + SVBus", "grub.cfg", "grub",
          render_grub2_map, ram_driver=SVBUS, vhd_table="gpt", boots_vhd_esp=True,
          dynamic_needs="the fork's vhd module in the GRUB image (esp build --grub-mkimage "
                        "puts it in; without it the fork copies the file flat)",
          grub_modules={A1IVE: A1IVE_BASE_MODULES + ("map", "vhd")},
          grub_needs=f"{GRUB_FLAVOURS[A1IVE]}: upstream GRUB has no map command",
          largest_seen=(5 * GiB, "loaded here under QEMU + OVMF, 2026-12; field reports: "
                                 "3.8 GB, chenall/grub4dos issue #248"),
          notes=(SVBUS_NOTE,)),
    Chain("grub4efi", "grub4dos for UEFI 'map --mem --top' + SVBus", "menu.lst", "menulst",
          render_grub4efi, ram_driver=SVBUS, vhd_table="gpt", boots_vhd_esp=True,
          largest_seen=(42 * GiB, "field reports, chenall/grub4dos issues #449/#450"),
          notes=(SVBUS_NOTE,)),
    Chain("ntloader", "upstream GRUB + ntloader >= 3.0 ram= (Microsoft ramdisk)", "grub.cfg",
          "grub", render_ntloader, ram_driver=MS_RAMDISK, vhd_table="mbr", needs_fixed=True,
          grub_modules={GRUB_206: GRUB_BASE_MODULES, GRUB_212: GRUB_BASE_MODULES + ("linux",)},
          grub_needs="upstream GRUB 2.06 or later",
          esp_files=(f"{NTLOADER_DIR}/ntloader", f"{NTLOADER_DIR}/initrd.cpio"),
          size_limit=MS_RAMDISK_4GIB, notes=(NTLOADER_VERSION_NOTE,)),
    Chain("bootmgr-ramdisk", "Windows Boot Manager ramdisk entry (bcdedit)", "ramos-bcd.cmd",
          "cmd", render_bootmgr_ramdisk, ram_driver=MS_RAMDISK, vhd_table="mbr",
          needs_fixed=True, size_limit=MS_RAMDISK_4GIB),
    Chain("vhd-native", "Windows Boot Manager native VHD boot (bcdedit, not RAM)",
          "vhd-native-bcd.cmd", "cmd", render_vhd_native, in_ram=False, vhd_table="gpt"),
    Chain("loopback-test", "upstream GRUB: open the VHD with loopback and show it (test)",
          "grub.cfg", "grub", render_loopback_test, in_ram=False,
          # GRUB's loopback reads raw and fixed VHDs only
          needs_fixed=True,
          grub_modules={f: GRUB_BASE_MODULES + ("loopback",) for f in (GRUB_206, GRUB_212)},
          grub_needs="upstream GRUB 2.06 or later"),
]}
GRUB_CHAINS = tuple(name for name, c in CHAINS.items() if c.is_grub)
# The chains whose loader reads a config from the ESP (GRUB and grub4efi), not a BCD script.
LOADER_CHAINS = tuple(name for name, c in CHAINS.items() if c.language != "cmd")
# The chains a RAMOS image is built for (`ramos plan/init/script --chain`).
RAMOS_CHAINS = tuple(name for name, c in CHAINS.items() if c.vhd_table)


def get_chain(name: str) -> Chain:
    try:
        return CHAINS[name]
    except KeyError:
        raise UsageError(f"unknown chain {name!r} (choose from {', '.join(CHAINS)})") from None


def ramos_chain(name: str) -> Chain:
    """A chain a RAMOS image can be built for; the loopback test chain is refused."""
    chain = get_chain(name)
    if not chain.vhd_table:
        raise UsageError(f"chain {name!r} boots no RAMOS image (choose from "
                         f"{', '.join(RAMOS_CHAINS)})")
    return chain


def size_warning(chain_name: str, vhd_size: int) -> str | None:
    """What was seen when a VHD this large went through ``chain_name``; None if nothing."""
    from ..i18n import tr

    chain = get_chain(chain_name)
    limit = chain.size_limit
    if limit is None or vhd_size < limit.fails_from:
        return None
    return tr("a {size} VHD through {chain}: Microsoft's ramdisk failed at once with {error} for "
              "VHDs of {limit} or more in tests ({loaded} MiB loaded, {failed} MiB and larger "
              "failed; {seen}); {others} carried {carried}: keep the VHD below {limit} or use "
              "one of them", size=format_size(vhd_size), chain=chain.name, error=limit.error,
              limit=format_size(limit.fails_from), loaded=f"{limit.largest_loaded // MiB:,}",
              failed=f"{limit.smallest_failed // MiB:,}", seen=limit.seen_with,
              others=" and ".join(limit.carried_more), carried=format_size(limit.carried))


def dynamic_note(chain_name: str) -> str | None:
    """What a dynamic VHD means with ``chain_name``: None where it is refused."""
    from ..i18n import tr

    chain = get_chain(chain_name)
    if chain.needs_fixed:
        return None
    if not chain.in_ram:
        return tr("native VHD boot expands a dynamic VHD to its full size on the host partition "
                  "while Windows runs from it: leave that much free space")
    needs = tr("; it needs {what}", what=tr(chain.dynamic_needs)) if chain.dynamic_needs else ""
    return tr("{chain} expands a dynamic VHD into RAM itself{needs}: {trade}", chain=chain.name,
              needs=needs, trade=tr(DYNAMIC_VHD_TRADE))


_NTLOADER_LINUX = re.compile(r"^\s*linux\s+\S*ntloader", re.M)
_NTLOADER_CHAIN = re.compile(r"^\s*chainloader\s+\S*ntloader", re.M)


def check_config(chain_name: str, text: str, grub_version: tuple[int, int] | None) -> list[str]:
    """Check a config about to be installed beside a GRUB of ``grub_version``: refuse one that
    GRUB cannot start, return warnings for what was never seen to work."""
    if chain_name != "ntloader" or grub_version is None:
        return []
    shown = format_version(grub_version)
    if tuple(grub_version) < NTLOADER_LINUX_FORM_SINCE and _NTLOADER_LINUX.search(text):
        raise UsageError(f"the config starts ntloader with linux/initrd, which GRUB {shown} "
                         "cannot do (the machine resets); render it for this GRUB: diskkit boot "
                         f"config --chain ntloader ... --grub-version {shown}")
    if tuple(grub_version) >= NTLOADER_LINUX_FORM_SINCE and _NTLOADER_CHAIN.search(text):
        return [f"the config starts ntloader with chainloader, ntloader's form for GRUB before "
                f"2.12, never seen working with GRUB {shown}; render it with --grub-version "
                f"{shown} for the linux/initrd form"]
    return []


def render(chain_name: str, target: BootTarget, **opts) -> Rendered:
    """Render ``chain_name``'s config for ``target``; refuse what the chain cannot boot.

    Options: ``timeout``, ``default`` (menus); ``grub_version`` and ``loader_args`` (ntloader);
    ``check_file`` and ``halt`` (loopback-test).
    """
    chain = get_chain(chain_name)
    facts = target.facts
    warnings = []
    if facts.container == "dynamic":
        if chain.needs_fixed:
            raise Unsupported(f"{facts.image}: is a dynamic VHD; the {chain.name} chain reads the "
                              "file as a flat disk and needs a fixed VHD "
                              "(convert it: diskkit convert --to fixed IN OUT)")
        if chain.in_ram:
            warnings.append(dynamic_note(chain.name))
    if chain.in_ram and facts.container == "raw":
        warnings.append(f"{facts.image}: is a raw image, not a VHD; fine for the loader, but "
                        "Windows tools expect a fixed .vhd")
    if chain.boots_vhd_esp and facts.esp_index is None:
        warnings.append(f"{facts.image}: has no EFI System Partition; {chain.name} boots "
                        "\\EFI\\BOOT\\BOOTX64.EFI from inside the VHD (run bcdboot /f UEFI)")
    if chain.language == "cmd" and target.drive is None:
        warnings.append("--vhd-path has no drive letter; the BCD entry assumes C: "
                        "(give it as D:\\ramos\\win.vhd)")
    limit = size_warning(chain.name, facts.disk_size)
    if limit:
        warnings.append(limit)
    text = chain.renderer(target, opts, warnings)
    return Rendered(chain.name, chain.filename, text, tuple(warnings))
