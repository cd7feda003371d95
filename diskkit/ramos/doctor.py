"""``ramos doctor``: read a RAMOS image offline and say, before the first RAM boot, what would stop it.

Each check is one line: PASS, WARN or FAIL (INFO for facts that need no action), one sentence
of why, and the command that fixes it. The sections follow the boot: the container the loader
copies into RAM; the layout the chain's config points into; the inner layer (the VHD's own
ESP and BCD, which SVBus chains boot); the Windows inside (files, version, NTFS state); the
drivers it needs to find its disk; settings that make no sense in RAM; the outer layer on the
machine's ESP (``--esp``); the firmware. Chain facts come from boot/chains.py, RAM rules from
ramos/plan.py, the slim steps from ramos/windows.py, INF parsing and hardware-ID matching from
drivers/, hives and BCD from windows/.

Every sentence goes through ``tr`` when the check is made, so the text report, ``--json`` and
``--html`` speak the user's language; check names, sections and statuses stay English ids.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field

from ..errors import DiskkitError, UsageError
from ..i18n import tr
from ..units import GiB, MiB, format_size

PASS, INFO, WARN, FAIL = "PASS", "INFO", "WARN", "FAIL"
# The report's sections in boot order, with their titles (translated when shown).
SECTION_TITLES = {"container": "container", "layout": "partition layout",
                  "inner": "inner layer (the VHD's ESP and BCD)", "windows": "Windows inside",
                  "drivers": "drivers", "ram": "settings for RAM",
                  "outer": "outer layer (the machine's ESP)", "firmware": "firmware"}
SECTIONS = tuple(SECTION_TITLES)
ESP_BCD = "/EFI/Microsoft/Boot/BCD"
REMOVABLE_LOADER = "/EFI/BOOT/BOOTX64.EFI"
DRIVER_STORE = "/Windows/System32/DriverStore/FileRepository"
KERNEL = "/Windows/System32/ntoskrnl.exe"
MAX_STORE_INFS = 5000
# PCI class 01 = mass storage: SCSI, IDE, floppy, IPI, RAID, ATA, SATA (AHCI), SAS, NVM (NVMe)
STORAGE_CLASS = re.compile(r"CC_01([0-9A-F]{2})([0-9A-F]{2})?")
STORAGE_NAMES = {"00": "SCSI", "01": "IDE", "04": "RAID", "05": "ATA", "06": "SATA/AHCI",
                 "07": "SAS", "08": "NVMe"}
PCI_DEVICE = re.compile(r"^(PCI\\VEN_[0-9A-F]{4}&DEV_[0-9A-F]{4})")


@dataclass
class Check:
    section: str
    name: str
    status: str
    why: str
    fix: str | None = None


@dataclass
class Doctor:
    image: str
    chain: str
    chain_guessed: bool
    checks: list[Check] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    def add(self, section: str, name: str, status: str, why: str, fix: str | None = None):
        self.checks.append(Check(section, name, status, why, fix))

    @property
    def exit_code(self) -> int:
        return 1 if any(c.status == FAIL for c in self.checks) else 0

    def counts(self) -> dict:
        return {s: sum(c.status == s for c in self.checks) for s in (PASS, INFO, WARN, FAIL)}

    def to_dict(self) -> dict:
        return {"image": self.image, "chain": self.chain, "chain_guessed": self.chain_guessed,
                "counts": self.counts(), "checks": [asdict(c) for c in self.checks],
                "facts": self.facts, "summary": summary(self.counts()),
                # the words a report shows for the ids, in the user's language
                "section_titles": {s: section_title(s) for s in SECTIONS},
                "status_names": {s: status_name(s) for s in (PASS, INFO, WARN, FAIL)}}

    def to_text(self) -> str:
        from .plan import display_width

        if self.chain_guessed:
            lines = [tr("ramos doctor: {image} (chain {chain}, guessed from the layout: pass "
                        "--chain)", image=self.image, chain=self.chain)]
        else:
            lines = [tr("ramos doctor: {image} (chain {chain})", image=self.image,
                        chain=self.chain)]
        for section in SECTIONS:
            group = [c for c in self.checks if c.section == section]
            if not group:
                continue
            lines.append(f"\n[{section_title(section)}]")
            for c in group:
                status = status_name(c.status)
                lines.append(f"  {status}{' ' * (4 - display_width(status))}  {c.why}")
                if c.fix and c.status in (WARN, FAIL):
                    lines.append("        " + tr("fix: {command}", command=c.fix))
        lines.append("\n" + summary(self.counts()))
        return "\n".join(lines)


def section_title(section: str) -> str:
    return tr(SECTION_TITLES[section])


def status_name(status: str) -> str:
    """PASS / INFO / WARN / FAIL in the user's language (the JSON keeps the English ids)."""
    return tr(status)


def summary(counts: dict) -> str:
    """``3 pass, 1 warn, 0 fail`` (and what to do about a FAIL), for the text and HTML reports."""
    line = tr("{passed} pass, {warned} warn, {failed} fail", passed=counts[PASS],
              warned=counts[WARN], failed=counts[FAIL])
    return line + (tr(": fix the FAIL lines before the first RAM boot") if counts[FAIL] else "")


# -- the image ---------------------------------------------------------------------------------

@dataclass
class Volumes:
    """The opened image: its table, and the filesystems doctor reads."""

    dev: object
    table: object
    esp: object | None = None        # read interface (windows.locate) of the VHD's ESP
    windows: object | None = None    # read interface of the Windows partition
    windows_fs: str | None = None    # the filesystem type detected there


def _guess_chain(table) -> str:
    from ..boot.chains import RAMOS_CHAINS, get_chain

    kind = table.kind if table else "gpt"
    return next(c for c in RAMOS_CHAINS if get_chain(c).vhd_table == kind)


def diagnose(image: str, chain: str | None = None, esp: str | None = None,
             ram: int | None = None, hwids: str | None = None, allow_device: bool = False,
             open_windows=None) -> Doctor:
    """Every check for ``image``. ``open_windows(dev)`` opens the Windows partition's files
    (default: diskkit's NTFS reader); tests may hand in another reader."""
    from ..boot.chains import ramos_chain
    from ..boot.target import facts_from_table
    from ..image import open_image
    from ..ops.inspect import detect_filesystem
    from ..part import partition_device, read_table
    from ..windows.locate import open_files

    image = str(image)
    if ram is not None and ram <= 0:
        raise UsageError(tr("--ram must be positive"))
    with open_image(image, allow_device=allow_device) as dev:
        table = read_table(dev)
        name = chain or _guess_chain(table)
        chain_facts = ramos_chain(name)
        doc = Doctor(image, name, chain is None)
        _container(doc, image, dev, chain_facts, ram)
        if table is None:
            doc.add("layout", "table", FAIL, tr("no partition table: not a RAMOS image"),
                    f"diskkit ramos init {os.path.basename(image)} --size SIZE --chain {name}")
            return doc
        facts = facts_from_table(image, dev.container, dev.size, table)
        doc.facts["vhd"] = facts.to_dict()
        vols = Volumes(dev, table)
        try:
            if facts.esp_index is not None:
                esp_dev = partition_device(dev, facts.esp_index)
                fs = detect_filesystem(esp_dev)
                vols.esp = _open_safely(doc, "inner", open_files, esp_dev, fs and fs.get("type"))
            win_dev = partition_device(dev, facts.windows_index)
            fs = detect_filesystem(win_dev)
            vols.windows_fs = fs.get("type") if fs else None
            opener = open_windows or open_files
            vols.windows = _open_safely(doc, "windows", opener, win_dev, vols.windows_fs) \
                if vols.windows_fs == "ntfs" else None
            _layout(doc, facts, chain_facts, table)
            _inner(doc, facts, chain_facts, table, vols)
            hives = _windows(doc, facts, vols)
            _drivers(doc, chain_facts, vols, hives, hwids)
            _ram_settings(doc, hives)
            if esp:
                _outer(doc, esp, facts, chain_facts, image, allow_device)
            _firmware(doc, chain_facts)
        finally:
            for files in (vols.esp, vols.windows):
                if files is not None:
                    files.close()
    return doc


def _open_safely(doc, section, opener, dev, fs_type):
    try:
        return opener(dev, fs_type)
    except DiskkitError as exc:
        doc.add(section, "filesystem", FAIL, tr("cannot read the {fs} filesystem: {error}",
                                                fs=fs_type, error=exc))
        return None


# -- container ---------------------------------------------------------------------------------

def _container(doc: Doctor, image: str, dev, chain, ram: int | None) -> None:
    from ..ops import inspect
    from .plan import check_ram, host_partition_note

    kind = dev.container
    size, allocated = dev.size, None
    if os.path.isfile(image):
        st = os.stat(image)
        size, allocated = st.st_size, getattr(st, "st_blocks", 0) * 512 or None
    doc.facts["container"] = {"type": kind, "file_size": size, "virtual_size": dev.size,
                              "allocated_bytes": allocated}
    base = os.path.basename(image)
    if kind == "vhdx":
        doc.add("container", "type", FAIL, tr("VHDX: the RAM loaders read VHD or raw images "
                                              "only, and Windows' own ramdisk reads the file flat"),
                f"diskkit convert {base} {os.path.splitext(base)[0]}.vhd --to fixed")
    elif kind == "dynamic" and chain.needs_fixed:
        doc.add("container", "type", FAIL, tr("dynamic VHD: the {chain} chain reads the file as "
                                              "a flat disk, so Windows would see the VHD's "
                                              "metadata, not its disk", chain=chain.name),
                f"diskkit convert {base} fixed-{base} --to fixed")
    elif kind == "dynamic":
        from ..boot.chains import dynamic_note

        doc.add("container", "type", WARN, tr("dynamic VHD: {note}",
                                              note=dynamic_note(chain.name)),
                f"diskkit convert {base} fixed-{base} --to fixed")
    elif kind == "raw":
        doc.add("container", "type", WARN, tr("raw image: the loaders read it, but Windows "
                                              "tools (diskpart attach, Hyper-V) expect a .vhd"),
                f"diskkit convert {base} {os.path.splitext(base)[0]}.vhd --to fixed")
    else:
        doc.add("container", "type", PASS, tr("fixed VHD: the loader can copy it into RAM as is"))
    if kind == "fixed" and allocated is not None and allocated < size * 0.99:
        doc.add("container", "sparse", WARN, tr("sparse file ({allocated} of {size} allocated): "
                                                "Windows refuses to attach a sparse VHD",
                                                allocated=format_size(allocated),
                                                size=format_size(size)),
                tr("on Windows: fsutil sparse setflag {name} 0; on Linux: cp --sparse=never",
                   name=base))
    report = inspect.check(image, filesystems=("fat",))  # the windows section reads the NTFS
    errors = [p for p in report.problems if p.severity == "error"]
    warnings = [p for p in report.problems if p.severity != "error"]
    if errors:
        why = tr("container or partition table damaged: {problem}", problem=errors[0])
        if len(errors) > 1:
            why += tr(" (and {count} more)", count=len(errors) - 1)
        doc.add("container", "check", FAIL, why, f"diskkit check {base}; diskkit part repair {base}")
    elif warnings:
        doc.add("container", "check", WARN, tr("container: {problem}", problem=warnings[0]),
                f"diskkit check {base}")
    else:
        doc.add("container", "check", PASS, tr("footer, partition table (and backup GPT) and "
                                               "FAT volumes check clean"))
    host_note = host_partition_note(size)
    if host_note:
        doc.add("container", "host", INFO, host_note)
    if not chain.in_ram:
        return
    from ..boot.chains import size_warning

    too_big = size_warning(chain.name, dev.size)
    if too_big:
        doc.add("container", "size", WARN, too_big,
                tr("re-capture into a VHD below {limit}, or boot it with {chains}",
                   limit=format_size(chain.size_limit.fails_from),
                   chains=" / ".join(chain.size_limit.carried_more)))
    ram_disk = size if kind != "dynamic" else dev.size
    if ram is None:
        doc.add("container", "ram", INFO, tr("the RAM disk takes {size}; give --ram to check it "
                                             "against the machine's memory",
                                             size=format_size(ram_disk)))
        return
    try:  # ramos plan's rule and words
        short = check_ram(dev.size, ram, chain.name)
    except UsageError as exc:
        doc.add("container", "ram", FAIL, str(exc),
                tr("re-capture Windows into a VHD that fits (docs/ramos.md §9, step 8), or add "
                   "RAM"))
        return
    if short:
        doc.add("container", "ram", WARN, short,
                f"diskkit ramos plan --vhd-size {_size_arg(dev.size)} --ram {_size_arg(ram)}")
    else:
        doc.add("container", "ram", PASS, tr("RAM {ram} holds the {size} RAM disk with {left} "
                                             "left", ram=format_size(ram),
                                             size=format_size(ram_disk),
                                             left=format_size(ram - ram_disk)))


def _size_arg(n: int) -> str:
    """A size as a command line takes it: ``12G``, ``1536M``."""
    return f"{n // GiB}G" if n % GiB == 0 else f"{n // MiB}M"


# -- layout ------------------------------------------------------------------------------------

def _layout(doc: Doctor, facts, chain, table) -> None:
    base = os.path.basename(facts.image)
    if chain.vhd_table and table.kind != chain.vhd_table:
        doc.add("layout", "table", WARN, tr("{table} image; `ramos init --chain {chain}` makes "
                                            "{want} (check that the chain is right)",
                                            table=table.kind.upper(), chain=chain.name,
                                            want=chain.vhd_table.upper()),
                f"diskkit ramos doctor {base} --chain CHAIN")
    else:
        doc.add("layout", "table", PASS, tr("{table}, as {chain} expects",
                                            table=table.kind.upper(), chain=chain.name))
    where = dict(index=facts.windows_index, offset=facts.windows_offset,
                 size=format_size(facts.windows_size))
    if chain.ms_ramdisk:
        doc.add("layout", "offset", PASS, tr("Windows is partition {index} at byte {offset} "
                                             "({size}): the offset `boot config` writes (imgofs "
                                             "/ ramdiskimageoffset)", **where))
    else:
        doc.add("layout", "offset", INFO, tr("Windows is partition {index} at byte {offset} "
                                             "({size}): the offset `boot config` writes", **where))
    if chain.boots_vhd_esp and facts.esp_index is None:
        doc.add("layout", "esp", FAIL, tr("no EFI System Partition inside the VHD: {chain} starts "
                                          "\\EFI\\BOOT\\BOOTX64.EFI from it", chain=chain.name),
                tr("diskkit ramos init NEW.vhd --size SIZE --chain {chain}, then deploy Windows "
                   "into it", chain=chain.name))


# -- inner layer: the VHD's own ESP and BCD ----------------------------------------------------

def _describe_partition(table, index) -> str:
    p = next(p for p in table.partitions if p.index == index)
    if table.kind == "gpt":
        return tr("disk {disk}, partition {partition}", disk=table.disk_guid, partition=p.guid)
    return tr("disk 0x{signature:08x}, offset {offset}", signature=table.disk_signature,
              offset=p.start)


def _points_here(device, table, index) -> bool:
    """Is a BCD device this image's partition ``index``?"""
    if device.kind == "boot":
        return True  # the partition the boot manager came from: the VHD's ESP
    if device.kind != "partition":
        return False
    p = next(p for p in table.partitions if p.index == index)
    if table.kind == "gpt" and device.table == "gpt":
        return (device.disk or "").lower() == table.disk_guid.lower() and \
            (device.partition or "").lower() == p.guid.lower()
    if table.kind == "mbr" and device.table == "mbr":
        return device.disk == f"0x{table.disk_signature:08x}" and device.offset == p.start
    return False


def _inner(doc: Doctor, facts, chain, table, vols: Volumes) -> None:
    if not chain.boots_vhd_esp:
        doc.add("inner", "bcd", INFO, tr("{chain}: the boot manager and its BCD come from "
                                         "outside the VHD; the VHD's own boot files matter only "
                                         "for tuning it in a VM", chain=chain.name))
        return
    esp = vols.esp
    if esp is None:
        return  # no ESP (a layout FAIL) or unreadable (said already)
    fix_bcd = tr("attach the VHD and run bcdboot V:\\Windows /s S: /f UEFI (the deploy script's "
                 "bcdboot step) so the BCD names this VHD's partitions")
    if esp.exists(REMOVABLE_LOADER) and not esp.is_dir(REMOVABLE_LOADER):
        problem = _efi_problem(esp, REMOVABLE_LOADER)
        if problem:
            doc.add("inner", "bootx64", FAIL, tr("\\EFI\\BOOT\\BOOTX64.EFI in the VHD's ESP is "
                                                 "{problem}", problem=problem), fix_bcd)
        else:
            doc.add("inner", "bootx64", PASS, tr("\\EFI\\BOOT\\BOOTX64.EFI is in the VHD's ESP"))
    else:
        doc.add("inner", "bootx64", FAIL, tr("no \\EFI\\BOOT\\BOOTX64.EFI in the VHD's ESP: "
                                             "{chain} has nothing to start from the RAM disk",
                                             chain=chain.name), fix_bcd)
    if not esp.exists(ESP_BCD):
        doc.add("inner", "bcd", FAIL, tr("no \\EFI\\Microsoft\\Boot\\BCD in the VHD's ESP: the "
                                         "boot manager stops with 0xc000000f"), fix_bcd)
        return
    from ..windows.bcd import read_store
    from ..windows.hive import hive_from_stream

    try:
        with esp.open(ESP_BCD) as fh:
            store = read_store(hive_from_stream(fh, f"VHD ESP {ESP_BCD}"))
    except DiskkitError as exc:
        doc.add("inner", "bcd", FAIL, tr("the VHD's BCD is unreadable: {error}", error=exc),
                fix_bcd)
        return
    doc.facts["bcd"] = store.to_dict()
    mgr = store.bootmgr
    mgr_device = mgr.get("device") if mgr else None
    if mgr_device is None or not hasattr(mgr_device, "device"):
        doc.add("inner", "bootmgr", FAIL, tr("the VHD's BCD has no {bootmgr} device"), fix_bcd)
    elif _points_here(mgr_device.device, table, facts.esp_index):
        doc.add("inner", "bootmgr", PASS, tr("{bootmgr} is on this VHD's ESP"))
    else:
        doc.add("inner", "bootmgr", FAIL, tr("{{bootmgr}} points at {device}, not this VHD's ESP "
                                             "({esp}): the two boot layers are mixed",
                                             device=mgr_device.device.to_text(),
                                             esp=_describe_partition(table, facts.esp_index)),
                fix_bcd)
    loader = store.default_loader()
    if loader is None:
        doc.add("inner", "default", FAIL, tr("the VHD's BCD has no default entry to boot"),
                fix_bcd)
        return
    doc.facts["default_entry"] = {"guid": loader.guid, "description": loader.description}
    entry = repr(loader.description or loader.guid)
    wrong = []
    for element in ("device", "osdevice"):
        value = loader.get(element)
        if value is None or not hasattr(value, "device"):
            wrong.append(tr("{element} missing", element=element))
        elif not _points_here(value.device, table, facts.windows_index) or \
                value.device.kind == "boot":
            wrong.append(f"{element} = {value.device.to_text()}")
    if wrong:
        doc.add("inner", "default", FAIL, tr("default entry {entry}: {wrong}, not this VHD's "
                                             "Windows partition ({windows})", entry=entry,
                                             wrong="; ".join(wrong),
                                             windows=_describe_partition(table,
                                                                         facts.windows_index)),
                fix_bcd)
    else:
        doc.add("inner", "default", PASS, tr("default entry {entry} boots this VHD's Windows "
                                             "partition", entry=entry))
    win = vols.windows
    if win is None:
        return
    missing = []
    for element in ("path", "systemroot"):
        value = loader.get(element)
        if isinstance(value, str) and value and not win.exists(value.replace("\\", "/")):
            missing.append(f"{element} {value}")
    if missing:
        doc.add("inner", "paths", FAIL, tr("the default entry's {missing} is not in the Windows "
                                           "partition (0xc000000f at boot)",
                                           missing=", ".join(missing)), fix_bcd)
    else:
        doc.add("inner", "paths", PASS, tr("the default entry's path and systemroot exist"))


def _efi_problem(files, path: str) -> str | None:
    """Why ``path`` is not an x86-64 EFI application, or None (boot/efiapp.py decides)."""
    from ..boot.efiapp import describe

    with files.open(path) as fh:
        head = fh.read(4096)
    return describe(head)


# -- Windows --------------------------------------------------------------------------------------

@dataclass
class Hives:
    system: object | None = None
    software: object | None = None
    arch: str | None = None


def _windows(doc: Doctor, facts, vols: Volumes) -> Hives:
    hives = Hives()
    win = vols.windows
    if vols.windows_fs != "ntfs":
        why = tr("the Windows partition holds {fs}, not NTFS: Windows is not deployed yet",
                 fs=vols.windows_fs) if vols.windows_fs else \
            tr("the Windows partition has no filesystem: Windows is not deployed yet")
        doc.add("windows", "ntfs", FAIL, why,
                tr("diskkit ramos script deploy ... (see docs/ramos.md)"))
        return hives
    if win is None:
        from ..windows.locate import ntfs_reader_available

        if not ntfs_reader_available():
            doc.add("windows", "ntfs", WARN, tr("this diskkit cannot read NTFS: the Windows "
                                                "checks were skipped"))
        return hives
    dirty = win.dirty()
    if dirty:
        doc.add("windows", "dirty", FAIL, tr("NTFS is marked dirty: Windows runs chkdsk at every "
                                             "RAM boot and loses the repair at power-off"),
                tr("boot the VHD once in a VM (diskkit vm qemu {image}) and shut down cleanly, "
                   "or chkdsk /f V: with the VHD attached", image=os.path.basename(facts.image)))
    else:
        doc.add("windows", "dirty", PASS, tr("NTFS is clean (not marked dirty)"))
    usage = win.usage()
    if usage:
        from .shrink import DEFAULT_HEADROOM

        used, total = usage
        doc.facts["ntfs"] = {"used_bytes": used, "total_bytes": total}
        free = total - used
        sizes = dict(used=format_size(used), total=format_size(total), free=format_size(free))
        if free < min(total // 10, DEFAULT_HEADROOM):
            status, why = WARN, tr("NTFS {used} used of {total} ({free} free); nearly full: "
                                   "updates and temp files fail", **sizes)
        else:
            status, why = INFO, tr("NTFS {used} used of {total} ({free} free)", **sizes)
        doc.add("windows", "space", status, why,
                tr("diskkit ramos plan --from {image} for the smallest VHD that holds it",
                   image=os.path.basename(facts.image)))
    fix = tr("deploy Windows into the VHD: diskkit ramos script deploy ...")
    if not win.exists("/Windows"):
        doc.add("windows", "deployed", FAIL, tr("no \\Windows folder in the Windows partition: "
                                                "Windows is not deployed yet"), fix)
        return hives
    for path, why in (("/Windows/System32/winload.efi",
                       tr("the boot manager stops with 0xc000000f")),
                      (KERNEL, tr("winload finds no kernel"))):
        shown = path.replace("/", "\\")
        if win.exists(path):
            doc.add("windows", os.path.basename(path), PASS, tr("{path} is present", path=shown))
        else:
            doc.add("windows", os.path.basename(path), FAIL,
                    tr("no {path}: {why}", path=shown, why=why), fix)
    from ..windows.hive import hive_from_stream
    from ..windows.locate import SOFTWARE_HIVE, SYSTEM_HIVE
    from ..windows.software import SoftwareHive
    from ..windows.system import SystemHive

    for path, cls, attr in ((SYSTEM_HIVE, SystemHive, "system"),
                            (SOFTWARE_HIVE, SoftwareHive, "software")):
        if not win.exists(path):
            doc.add("windows", attr, FAIL, tr("no {path} hive", path=path.replace("/", "\\")),
                    fix)
            continue
        try:
            with win.open(path) as fh:
                setattr(hives, attr, cls(hive_from_stream(fh, path)))
        except DiskkitError as exc:
            doc.add("windows", attr, FAIL, tr("the {hive} hive is unreadable: {error}",
                                              hive=attr.upper(), error=exc),
                    tr("boot the VHD in a VM once; Windows repairs its hives from the logs"))
    if hives.system is not None:
        hives.arch = hives.system.architecture()
    version = hives.software.version() if hives.software is not None else None
    if version is not None:
        doc.facts["windows"] = {**version.to_dict(), "architecture": hives.arch}
        doc.add("windows", "version", INFO, ", ".join(filter(None, (version.name, version.edition,
                                                                    hives.arch))))
    return hives


# -- drivers ----------------------------------------------------------------------------------------

def _reg_start_fix(system, service: str) -> str:
    key = f"HKLM\\RAMOS_SYSTEM\\{system.control_set}\\Services\\{service}"
    return (f"reg load HKLM\\RAMOS_SYSTEM V:\\Windows\\System32\\config\\SYSTEM & reg add {key} "
            f"/v Start /t REG_DWORD /d 0 /f & reg delete {key}\\StartOverride /f & "
            "reg unload HKLM\\RAMOS_SYSTEM")


def _drivers(doc: Doctor, chain, vols: Volumes, hives: Hives, hwids: str | None) -> None:
    system = hives.system
    if system is None:
        return
    if chain.needs_svbus:
        svbus = system.service("svbus") or next(iter(system.find_services("svbus.sys")), None)
        if svbus is None:
            doc.add("drivers", "svbus", FAIL, tr("SVBus is not installed: Windows stops with "
                                                 "INACCESSIBLE_BOOT_DEVICE (0x7B) at the first "
                                                 "RAM boot"),
                    tr("diskkit ramos script deploy ... --svbus DIR (or dism /Image:V:\\ "
                       "/Add-Driver /Driver:SVBus /Recurse /ForceUnsigned)"))
        elif not svbus.boot_start:
            doc.add("drivers", "svbus", FAIL, tr("SVBus starts as {start} (Start={value}), not "
                                                 "with the kernel: 0x7B at the first RAM boot",
                                                 start=svbus.start_name,
                                                 value=svbus.effective_start),
                    _reg_start_fix(system, svbus.name))
        else:
            doc.add("drivers", "svbus", PASS, tr("SVBus is a boot-start service"))
    else:
        doc.add("drivers", "svbus", INFO, tr("{chain} uses Microsoft's ramdisk driver: no SVBus "
                                             "needed", chain=chain.name))
    for name in ("storahci", "stornvme"):
        service = system.service(name)
        if service is None:
            continue
        if service.boot_start:
            doc.add("drivers", name, PASS, tr("{service} starts with the kernel", service=name))
        else:
            doc.add("drivers", name, WARN, tr("{service} starts as {start}: on a machine whose "
                                              "disk controller differs from the VM's, 0x7B",
                                              service=name, start=service.start_name),
                    _reg_start_fix(system, name))
    if hwids:
        _hwids(doc, vols, hives, hwids)


def _storage_devices(ids: set[str]) -> dict[str, tuple[str, set[str]]]:
    """Storage controllers among ``ids``: device -> (kind, its IDs with the generic class IDs)."""
    devices: dict[str, tuple[str, set[str]]] = {}
    for hwid in ids:
        match = PCI_DEVICE.match(hwid)
        cls = STORAGE_CLASS.search(hwid)
        if not match or not cls:
            continue
        key = match.group(1)
        kind, found = devices.setdefault(key, (STORAGE_NAMES.get(cls.group(1), "storage"), set()))
        found.update(i for i in ids if i.startswith(key))
        sub = cls.group(1) + (cls.group(2) or "")
        found.update({f"PCI\\CC_01{sub}", f"PCI\\CC_01{cls.group(1)}"})
    return devices


def _store_infs(win):
    """(package folder, InfFile) for every INF in the image's driver store."""
    from ..drivers.inf import MAX_INF_BYTES, parse_inf

    if not win.exists(DRIVER_STORE):
        return []
    out = []
    for package in win.listdir(DRIVER_STORE):
        if len(out) >= MAX_STORE_INFS:
            break
        folder = f"{DRIVER_STORE}/{package}"
        if not win.is_dir(folder):
            continue
        for name in win.listdir(folder):
            if not name.lower().endswith(".inf"):
                continue
            try:
                with win.open(f"{folder}/{name}") as fh:
                    out.append((package, parse_inf(fh.read(MAX_INF_BYTES + 1))))
            except DiskkitError:
                continue
    return out


def _hwids(doc: Doctor, vols: Volumes, hives: Hives, path: str) -> None:
    from ..drivers.scan import read_hwids

    devices = _storage_devices(read_hwids(path))
    if not devices:
        doc.add("drivers", "hwids", WARN, tr("{path}: no storage controller (PCI class 01) among "
                                             "its IDs; was it made with pnputil /enum-devices "
                                             "/connected /ids on the target?", path=path))
        return
    win = vols.windows
    if win is None:
        return
    infs = _store_infs(win)
    system = hives.system
    for device, (kind, ids) in sorted(devices.items()):
        check = f"hwid {device}"
        controller = tr("{kind} controller {device}", kind=kind, device=device)
        matches = [(pkg, inf) for pkg, inf in infs if set(inf.hardware_ids) & ids]
        if not matches:
            doc.add("drivers", check, FAIL, tr("{controller}: no driver for it in the image's "
                                               "driver store: 0x7B on that machine",
                                               controller=controller),
                    tr("diskkit drivers pack D:\\drv --out D:\\drv-min --boot-critical, then "
                       "diskkit ramos script deploy ... --drivers D:\\drv-min"))
            continue
        services = {s.name for _, inf in matches for s in inf.services}
        booting = [s for s in services if system.service(s) and system.service(s).boot_start]
        if hives.arch == "AMD64" and all(inf.architectures and "amd64" not in inf.architectures
                                         for _, inf in matches):
            doc.add("drivers", check, FAIL, tr("{controller}: only x86 drivers match "
                                               "({packages}), and Windows is x64",
                                               controller=controller,
                                               packages=", ".join(p for p, _ in matches)),
                    tr("export the x64 driver on the target machine: pnputil /export-driver * "
                       "D:\\drv"))
        elif booting:
            doc.add("drivers", check, PASS, tr("{controller}: {services} installed as a "
                                               "boot-start service", controller=controller,
                                               services=", ".join(sorted(booting))))
        else:
            name = sorted(services)[0] if services else "?"
            doc.add("drivers", check, FAIL, tr("{controller}: driver found ({package}) but its "
                                               "service {service} does not start with the "
                                               "kernel: 0x7B on that machine",
                                               controller=controller, package=matches[0][0],
                                               service=name),
                    _reg_start_fix(system, name))


# -- settings that make no sense in RAM -------------------------------------------------------------

def _slim_fix(step: str) -> str:
    return tr("diskkit ramos script slim (step {step}) inside the VM", step=step)


def _ram_settings(doc: Doctor, hives: Hives) -> None:
    from .windows import SLIM_SERVICES

    system, software = hives.system, hives.software
    if system is not None:
        pages = system.paging_files()
        if pages:
            doc.add("ram", "pagefile", WARN, tr("a pagefile is set ({pages}): paging RAM into the "
                                                "RAM disk only wastes both",
                                                pages="; ".join(pages)), _slim_fix("pagefile-off"))
        else:
            doc.add("ram", "pagefile", PASS, tr("no pagefile"))
        hibernate = system.hibernate_enabled()
        if hibernate is False:
            doc.add("ram", "hibernation", PASS, tr("hibernation is off"))
        else:
            state = tr("on") if hibernate else tr("not turned off")
            doc.add("ram", "hibernation", WARN, tr("hibernation is {state}: hiberfil.sys takes a "
                                                   "good part of RAM size in the RAM disk",
                                                   state=state), _slim_fix("hibernation-off"))
        for step, service, what, why in SLIM_SERVICES:
            found = system.service(service)
            if found is None:
                continue
            if found.effective_start == 4:
                doc.add("ram", service.lower(), PASS, tr("{what} is disabled", what=what))
            else:
                doc.add("ram", service.lower(), WARN, tr("{what} starts as {start}: {why}", what=what,
                                              start=found.start_name, why=tr(why)),
                        _slim_fix(f"{step}-off"))
    if software is not None:
        if software.system_restore_disabled():
            doc.add("ram", "restore", PASS, tr("System Restore is off"))
        else:
            doc.add("ram", "restore", WARN, tr("System Restore is on: restore points fill the "
                                               "small VHD and vanish at power-off"),
                    _slim_fix("restore-off"))


# -- outer layer: the machine's ESP ------------------------------------------------------------------

def _outer(doc: Doctor, esp: str, facts, chain, image: str, allow_device: bool) -> None:
    try:
        opened = _HostDir(esp) if os.path.isdir(esp) else _open_esp_readonly(esp, allow_device)
    except DiskkitError as exc:
        doc.add("outer", "esp", FAIL, f"--esp {esp}: {exc}")
        return
    try:
        _outer_checks(doc, opened.files(), opened, facts, chain, image)
    finally:
        opened.close()


def _open_esp_readonly(path: str, allow_device: bool):
    from ..image import open_image
    from ..part import partition_device, read_table
    from ..boot.esp import find_esp_partition
    from ..windows.locate import FatFiles

    dev = open_image(path, allow_device=allow_device)
    try:
        table = read_table(dev)
        volume = dev if table is None else partition_device(
            dev, find_esp_partition(table, path), owns_parent=True)
        return FatFiles(volume)
    except BaseException:
        dev.close()
        raise


class _HostDir:
    """A mounted ESP folder through the read interface (names matched ignoring case)."""

    def __init__(self, root: str):
        self.root = root

    def _find(self, path: str) -> str | None:
        current = self.root
        for part in filter(None, path.split("/")):
            try:
                match = next((e for e in os.listdir(current) if e.upper() == part.upper()), None)
            except OSError:
                return None
            if match is None:
                return None
            current = os.path.join(current, match)
        return current

    def exists(self, path: str) -> bool:
        return self._find(path) is not None

    def is_dir(self, path: str) -> bool:
        found = self._find(path)
        return found is not None and os.path.isdir(found)

    def open(self, path: str):
        return open(self._find(path), "rb")

    def files(self) -> list[str]:
        out = []
        for root, _, names in os.walk(self.root):
            rel = os.path.relpath(root, self.root).replace(os.sep, "/")
            out += [("/" if rel == "." else f"/{rel}/") + n for n in names]
        return out

    def close(self) -> None:
        pass


def _outer_checks(doc: Doctor, files: list[str], reader, facts, chain, image: str) -> None:
    upper = {f.upper(): f for f in files}
    efis = [f for f in files if f.upper().endswith(".EFI") and f.upper().startswith("/EFI/")
            and "/MICROSOFT/" not in f.upper()]
    configs = [f for f in files if os.path.basename(f).upper() == chain.filename.upper()]
    beside = [c for c in configs if any(os.path.dirname(e).upper() == os.path.dirname(c).upper()
                                        for e in efis)]
    if chain.language == "cmd":
        _machine_bcd(doc, reader, facts, chain, image)
        return
    if not efis:
        doc.add("outer", "loader", FAIL, tr("no EFI loader on the ESP besides Windows' own"),
                f"diskkit esp build ESP --loader LOADER.efi --config {chain.filename}")
        return
    base = os.path.basename(image)
    if not beside:
        other = [f for f in files if f.upper().endswith((".CFG", ".LST")) and
                 any(os.path.dirname(e).upper() == os.path.dirname(f).upper() for e in efis)]
        why = tr("no {config} beside the loader ({loaders})", config=chain.filename,
                 loaders=", ".join(efis))
        if other:
            why += tr("; found {others}: the loader reads only {config}",
                      others=", ".join(other), config=chain.filename)
        doc.add("outer", "config", FAIL, why,
                tr("rename it to {config}, or: diskkit boot config --chain {chain} --vhd {image} "
                   "--vhd-path PATH --out {config}", config=chain.filename, chain=chain.name,
                   image=base))
        return
    config = beside[0]
    loader = next(e for e in efis if os.path.dirname(e).upper() == os.path.dirname(config).upper())
    problem = _efi_problem(reader, loader)
    if problem:
        doc.add("outer", "loader", FAIL, tr("{loader} is {problem}", loader=loader,
                                            problem=problem),
                f"diskkit esp build ESP --loader grubx64.efi ({chain.summary})")
    else:
        doc.add("outer", "loader", PASS, tr("loader {loader} with its {config}", loader=loader,
                                            config=chain.filename))
    with reader.open(config) as fh:
        text = fh.read(1 << 20).decode("utf-8", "replace")
    fix_config = f"diskkit boot config --chain {chain.name} --vhd {base} --vhd-path PATH"
    if base.lower() not in text.lower():
        doc.add("outer", "vhd-path", WARN, tr("{config} does not name {image}: it boots another "
                                              "VHD, or this one was renamed", config=config,
                                              image=base), fix_config)
    else:
        doc.add("outer", "vhd-path", PASS, tr("{config} names {image}", config=config,
                                              image=base))
    if chain.ms_ramdisk:
        offsets = [int(m) for m in re.findall(r"imgofs=(\d+)", text)]
        if offsets and any(o != facts.windows_offset for o in offsets):
            doc.add("outer", "imgofs", FAIL, tr("{config}: imgofs={found}, but Windows starts at "
                                                "byte {offset} of the VHD (0xc0000225 at boot)",
                                                config=config, found=offsets[0],
                                                offset=facts.windows_offset), fix_config)
        elif offsets:
            doc.add("outer", "imgofs", PASS, tr("imgofs={found} is the Windows partition's "
                                                "offset", found=offsets[0]))
        from ..boot.chains import NTLOADER_LINUX_FORM_SINCE, check_config, format_version

        try:  # boot/chains.py knows which form an older GRUB cannot start
            check_config(chain.name, text, (2, 6))
        except UsageError:
            doc.add("outer", "grub-version", INFO, tr(
                "{config} starts ntloader with linux/initrd: the GRUB beside it must be "
                "{version} or later (older ones reset the machine); the version is not readable "
                "from the EFI file", config=config,
                version=format_version(NTLOADER_LINUX_FORM_SINCE)))
    if chain.esp_files:
        missing = []
        for default in chain.esp_files:  # where the config loads them from, else the default
            word = os.path.basename(default)
            paths = re.findall(r"(/[^\s\"'=]*" + re.escape(word) + r")(?![\w/.])", text)
            missing += [p for p in paths or [default] if p.upper() not in upper]
        names = " / ".join(os.path.basename(f) for f in chain.esp_files)
        if missing:
            adds = " ".join(f"--add {os.path.basename(f)}={f}" for f in chain.esp_files)
            doc.add("outer", "esp-files", FAIL, tr("{files} not on the ESP: GRUB stops with "
                                                   "'file not found'",
                                                   files=", ".join(sorted(set(missing)))),
                    f"diskkit esp build ESP {adds}")
        else:
            doc.add("outer", "esp-files", PASS, tr("{files} are on the ESP", files=names))


def _machine_bcd(doc: Doctor, reader, facts, chain, image: str) -> None:
    """bootmgr-ramdisk and vhd-native live in the machine's own BCD: an entry must boot this
    VHD, and a RAM disk entry's options must hold the Windows partition's offset."""
    from ..windows.bcd import read_store
    from ..windows.hive import hive_from_stream

    base = os.path.basename(image)
    fix = tr("diskkit boot config --chain {chain} --vhd {image} --vhd-path D:\\ramos\\{image} "
             "--out {config}, then run it on that machine as administrator", chain=chain.name,
             image=base, config=chain.filename)
    if not reader.exists(ESP_BCD):
        doc.add("outer", "bcd", FAIL, tr("no \\EFI\\Microsoft\\Boot\\BCD on this ESP: {chain} "
                                         "adds its entry to the Windows Boot Manager's store "
                                         "there", chain=chain.name), fix)
        return
    try:
        with reader.open(ESP_BCD) as fh:
            store = read_store(hive_from_stream(fh, f"--esp {ESP_BCD}"))
    except DiskkitError as exc:
        doc.add("outer", "bcd", FAIL, tr("the machine's BCD is unreadable: {error}", error=exc))
        return
    kind = "ramdisk" if chain.ms_ramdisk else "vhd"
    entries = []
    for obj in store.objects.values():
        value = obj.get("osdevice") or obj.get("device")
        device = getattr(value, "device", None)
        if device is not None and device.kind == kind and \
                (device.path or "").replace("/", "\\").rsplit("\\", 1)[-1].lower() == base.lower():
            entries.append((obj, value))
    if not entries:
        doc.add("outer", "bcd", FAIL, tr("no entry in the machine's BCD boots {image} as "
                                         "{kind}=...", image=base, kind=kind), fix)
        return
    obj, value = entries[0]
    name = repr(obj.description or obj.guid)
    order = store.bootmgr.get("displayorder") if store.bootmgr else None
    if not isinstance(order, list) or obj.guid not in order:
        doc.add("outer", "bcd", WARN, tr("entry {entry} boots {image} but is not in the boot "
                                         "menu (displayorder)", entry=name, image=base),
                f"bcdedit /displayorder {obj.guid} /addlast")
    else:
        doc.add("outer", "bcd", PASS, tr("entry {entry} boots {device}", entry=name,
                                         device=value.device.to_text()))
    if kind != "ramdisk":
        return
    options = store.objects.get(value.options or "")
    offset = options.get("ramdiskimageoffset") if options else None
    if offset != facts.windows_offset:
        doc.add("outer", "imgofs", FAIL, tr("{options} has ramdiskimageoffset {found}, but "
                                            "Windows starts at byte {offset} of the VHD "
                                            "(0xc0000225 at boot)",
                                            options=store.name_of(value.options or "-"),
                                            found=offset, offset=facts.windows_offset),
                f"bcdedit /set {store.name_of(value.options or '')} "
                f"ramdiskimageoffset {facts.windows_offset}")
    else:
        doc.add("outer", "imgofs", PASS, tr("ramdiskimageoffset {offset} is the Windows "
                                            "partition's offset", offset=offset))


def _firmware(doc: Doctor, chain) -> None:
    if chain.language == "cmd":
        doc.add("firmware", "secure-boot", INFO, tr("{chain} starts from the Microsoft-signed "
                                                    "Windows Boot Manager", chain=chain.name))
    else:
        doc.add("firmware", "secure-boot", INFO, tr("Secure Boot must be off in the firmware "
                                                    "setup: {chain}'s loader is not signed for "
                                                    "it", chain=chain.name))
