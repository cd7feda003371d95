"""``ramos doctor``: read a RAMOS image offline and say, before the first RAM boot, what would stop it.

Each check is one line: PASS, WARN or FAIL (INFO for facts that need no action), one sentence
of why, and the command that fixes it. The sections follow the boot: the container the loader
copies into RAM; the layout the chain's config points into; the inner layer (the VHD's own
ESP and BCD, which SVBus chains boot); the Windows inside (files, version, NTFS state); the
drivers it needs to find its disk; settings that make no sense in RAM; the outer layer on the
machine's ESP (``--esp``); the firmware. Chain facts come from boot/chains.py, RAM rules from
ramos/plan.py, INF parsing and hardware-ID matching from drivers/, hives and BCD from windows/.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field

from ..errors import DiskkitError, UsageError
from ..units import format_size

PASS, INFO, WARN, FAIL = "PASS", "INFO", "WARN", "FAIL"
SECTIONS = ("container", "layout", "inner", "windows", "drivers", "ram", "outer", "firmware")
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
                "facts": self.facts}

    def to_text(self) -> str:
        lines = [f"ramos doctor: {self.image} (chain {self.chain}"
                 + (", guessed from the layout: pass --chain" if self.chain_guessed else "") + ")"]
        for section in SECTIONS:
            group = [c for c in self.checks if c.section == section]
            if not group:
                continue
            lines.append(f"\n[{section}]")
            for c in group:
                lines.append(f"  {c.status:<4}  {c.why}")
                if c.fix and c.status in (WARN, FAIL):
                    lines.append(f"        fix: {c.fix}")
        n = self.counts()
        lines.append(f"\n{n[PASS]} pass, {n[WARN]} warn, {n[FAIL]} fail"
                     + (": fix the FAIL lines before the first RAM boot" if n[FAIL] else ""))
        return "\n".join(lines)


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
        raise UsageError("--ram must be positive")
    with open_image(image, allow_device=allow_device) as dev:
        table = read_table(dev)
        name = chain or _guess_chain(table)
        chain_facts = ramos_chain(name)
        doc = Doctor(image, name, chain is None)
        _container(doc, image, dev, chain_facts, ram)
        if table is None:
            doc.add("layout", "table", FAIL, "no partition table: not a RAMOS image",
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
        doc.add(section, "filesystem", FAIL, f"cannot read the {fs_type} filesystem: {exc}")
        return None


# -- container ---------------------------------------------------------------------------------

def _container(doc: Doctor, image: str, dev, chain, ram: int | None) -> None:
    from ..ops import inspect
    from .plan import RAM_HEADROOM

    kind = dev.container
    size, allocated = dev.size, None
    if os.path.isfile(image):
        st = os.stat(image)
        size, allocated = st.st_size, getattr(st, "st_blocks", 0) * 512 or None
    doc.facts["container"] = {"type": kind, "file_size": size, "virtual_size": dev.size,
                              "allocated_bytes": allocated}
    base = os.path.basename(image)
    if kind == "vhdx":
        doc.add("container", "type", FAIL, "VHDX: the RAM loaders read VHD or raw images only, "
                "and Windows' own ramdisk reads the file flat",
                f"diskkit convert {base} {os.path.splitext(base)[0]}.vhd --to fixed")
    elif kind == "dynamic" and chain.needs_fixed:
        doc.add("container", "type", FAIL, f"dynamic VHD: the {chain.name} chain reads the file "
                "as a flat disk, so Windows would see the VHD's metadata, not its disk",
                f"diskkit convert {base} fixed-{base} --to fixed")
    elif kind == "dynamic":
        from ..boot.chains import dynamic_note

        doc.add("container", "type", WARN, f"dynamic VHD: {dynamic_note(chain.name)}",
                f"diskkit convert {base} fixed-{base} --to fixed")
    elif kind == "raw":
        doc.add("container", "type", WARN, "raw image: the loaders read it, but Windows tools "
                "(diskpart attach, Hyper-V) expect a .vhd",
                f"diskkit convert {base} {os.path.splitext(base)[0]}.vhd --to fixed")
    else:
        doc.add("container", "type", PASS, f"{kind} VHD: the loader can copy it into RAM as is")
    if kind == "fixed" and allocated is not None and allocated < size * 0.99:
        doc.add("container", "sparse", WARN, f"sparse file ({format_size(allocated)} of "
                f"{format_size(size)} allocated): Windows refuses to attach a sparse VHD",
                f"on Windows: fsutil sparse setflag {base} 0; on Linux: cp --sparse=never")
    report = inspect.check(image, filesystems=("fat",))  # the windows section reads the NTFS
    errors = [p for p in report.problems if p.severity == "error"]
    warnings = [p for p in report.problems if p.severity != "error"]
    if errors:
        doc.add("container", "check", FAIL, f"container or partition table damaged: {errors[0]}"
                + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                f"diskkit check {base}; diskkit part repair {base}")
    elif warnings:
        doc.add("container", "check", WARN, f"container: {warnings[0]}", f"diskkit check {base}")
    else:
        doc.add("container", "check", PASS, "footer, partition table (and backup GPT) and FAT "
                "volumes check clean")
    if not chain.in_ram:
        return
    from ..boot.chains import size_warning

    too_big = size_warning(chain.name, dev.size)
    if too_big:
        doc.add("container", "size", WARN, too_big, "re-capture into a VHD below "
                f"{format_size(chain.size_limit.fails_from)}, or boot it with "
                f"{' / '.join(chain.size_limit.carried_more)}")
    ram_disk = size if kind != "dynamic" else dev.size
    if ram is None:
        doc.add("container", "ram", INFO, f"the RAM disk takes {format_size(ram_disk)}; give "
                "--ram to check it against the machine's memory")
    elif ram_disk >= ram:
        doc.add("container", "ram", FAIL, f"the RAM disk ({format_size(ram_disk)}) does not fit "
                f"in {format_size(ram)} of RAM (Microsoft's ramdisk stops with 0xc0000017)",
                f"diskkit ramos plan --vhd-size SIZE --ram {format_size(ram)} for the largest "
                "VHD that fits, then re-capture into it")
    elif ram < ram_disk + RAM_HEADROOM:
        doc.add("container", "ram", WARN, f"RAM {format_size(ram)} is below VHD + 4 GiB "
                f"({format_size(ram_disk + RAM_HEADROOM)}): Windows is left too little memory",
                f"diskkit ramos plan --vhd-size {format_size(ram_disk)} --ram {format_size(ram)}")
    else:
        doc.add("container", "ram", PASS, f"RAM {format_size(ram)} holds the "
                f"{format_size(ram_disk)} RAM disk with {format_size(ram - ram_disk)} left")


# -- layout ------------------------------------------------------------------------------------

def _layout(doc: Doctor, facts, chain, table) -> None:
    base = os.path.basename(facts.image)
    if chain.vhd_table and table.kind != chain.vhd_table:
        doc.add("layout", "table", WARN, f"{table.kind.upper()} image; `ramos init --chain "
                f"{chain.name}` makes {chain.vhd_table.upper()} (check that the chain is right)",
                f"diskkit ramos doctor {base} --chain CHAIN")
    else:
        doc.add("layout", "table", PASS, f"{table.kind.upper()}, as {chain.name} expects")
    doc.add("layout", "offset", INFO if not chain.ms_ramdisk else PASS,
            f"Windows is partition {facts.windows_index} at byte {facts.windows_offset} "
            f"({format_size(facts.windows_size)}): the offset `boot config` writes"
            + (" (imgofs / ramdiskimageoffset)" if chain.ms_ramdisk else ""))
    if chain.boots_vhd_esp and facts.esp_index is None:
        doc.add("layout", "esp", FAIL, f"no EFI System Partition inside the VHD: {chain.name} "
                "starts \\EFI\\BOOT\\BOOTX64.EFI from it", f"diskkit ramos init NEW.vhd --size "
                f"SIZE --chain {chain.name}, then deploy Windows into it")


# -- inner layer: the VHD's own ESP and BCD ----------------------------------------------------

def _describe_partition(table, index) -> str:
    p = next(p for p in table.partitions if p.index == index)
    if table.kind == "gpt":
        return f"disk {table.disk_guid}, partition {p.guid}"
    return f"disk 0x{table.disk_signature:08x}, offset {p.start}"


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
        doc.add("inner", "bcd", INFO, f"{chain.name}: the boot manager and its BCD come from "
                "outside the VHD; the VHD's own boot files matter only for tuning it in a VM")
        return
    esp = vols.esp
    if esp is None:
        return  # no ESP (a layout FAIL) or unreadable (said already)
    fix_bcd = ("attach the VHD and run bcdboot V:\\Windows /s S: /f UEFI (the deploy script's "
               "bcdboot step) so the BCD names this VHD's partitions")
    if esp.exists(REMOVABLE_LOADER) and not esp.is_dir(REMOVABLE_LOADER):
        problem = _efi_problem(esp, REMOVABLE_LOADER)
        if problem:
            doc.add("inner", "bootx64", FAIL, f"\\EFI\\BOOT\\BOOTX64.EFI in the VHD's ESP is "
                    f"{problem}", fix_bcd)
        else:
            doc.add("inner", "bootx64", PASS, "\\EFI\\BOOT\\BOOTX64.EFI is in the VHD's ESP")
    else:
        doc.add("inner", "bootx64", FAIL, f"no \\EFI\\BOOT\\BOOTX64.EFI in the VHD's ESP: "
                f"{chain.name} has nothing to start from the RAM disk", fix_bcd)
    if not esp.exists(ESP_BCD):
        doc.add("inner", "bcd", FAIL, "no \\EFI\\Microsoft\\Boot\\BCD in the VHD's ESP: the boot "
                "manager stops with 0xc000000f", fix_bcd)
        return
    from ..windows.bcd import read_store
    from ..windows.hive import hive_from_stream

    try:
        with esp.open(ESP_BCD) as fh:
            store = read_store(hive_from_stream(fh, f"VHD ESP {ESP_BCD}"))
    except DiskkitError as exc:
        doc.add("inner", "bcd", FAIL, f"the VHD's BCD is unreadable: {exc}", fix_bcd)
        return
    doc.facts["bcd"] = store.to_dict()
    mgr = store.bootmgr
    mgr_device = mgr.get("device") if mgr else None
    if mgr_device is None or not hasattr(mgr_device, "device"):
        doc.add("inner", "bootmgr", FAIL, "the VHD's BCD has no {bootmgr} device", fix_bcd)
    elif _points_here(mgr_device.device, table, facts.esp_index):
        doc.add("inner", "bootmgr", PASS, "{bootmgr} is on this VHD's ESP")
    else:
        doc.add("inner", "bootmgr", FAIL, f"{{bootmgr}} points at {mgr_device.device.to_text()}, "
                f"not this VHD's ESP ({_describe_partition(table, facts.esp_index)}): the two "
                "boot layers are mixed", fix_bcd)
    loader = store.default_loader()
    if loader is None:
        doc.add("inner", "default", FAIL, "the VHD's BCD has no default entry to boot", fix_bcd)
        return
    doc.facts["default_entry"] = {"guid": loader.guid, "description": loader.description}
    wrong = []
    for element in ("device", "osdevice"):
        value = loader.get(element)
        if value is None or not hasattr(value, "device"):
            wrong.append(f"{element} missing")
        elif not _points_here(value.device, table, facts.windows_index) or \
                value.device.kind == "boot":
            wrong.append(f"{element} = {value.device.to_text()}")
    if wrong:
        doc.add("inner", "default", FAIL, f"default entry {loader.description or loader.guid!r}: "
                f"{'; '.join(wrong)}, not this VHD's Windows partition "
                f"({_describe_partition(table, facts.windows_index)})", fix_bcd)
    else:
        doc.add("inner", "default", PASS, f"default entry {loader.description or loader.guid!r} "
                "boots this VHD's Windows partition")
    win = vols.windows
    if win is None:
        return
    missing = []
    for element in ("path", "systemroot"):
        value = loader.get(element)
        if isinstance(value, str) and value and not win.exists(value.replace("\\", "/")):
            missing.append(f"{element} {value}")
    if missing:
        doc.add("inner", "paths", FAIL, f"the default entry's {', '.join(missing)} is not in "
                "the Windows partition (0xc000000f at boot)", fix_bcd)
    else:
        doc.add("inner", "paths", PASS, "the default entry's path and systemroot exist")


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
        doc.add("windows", "ntfs", FAIL, f"the Windows partition holds "
                f"{vols.windows_fs or 'no filesystem'}, not NTFS: Windows is not deployed yet",
                "diskkit ramos script deploy ... (see docs/ramos.md)")
        return hives
    if win is None:
        from ..windows.locate import ntfs_reader_available

        if not ntfs_reader_available():
            doc.add("windows", "ntfs", WARN, "this diskkit cannot read NTFS: the Windows checks "
                    "were skipped")
        return hives
    dirty = win.dirty()
    if dirty:
        doc.add("windows", "dirty", FAIL, "NTFS is marked dirty: Windows runs chkdsk at every "
                "RAM boot and loses the repair at power-off", "boot the VHD once in a VM "
                f"(diskkit vm qemu {os.path.basename(facts.image)}) and shut down cleanly, or "
                "chkdsk /f V: with the VHD attached")
    else:
        doc.add("windows", "dirty", PASS, "NTFS is clean (not marked dirty)")
    usage = win.usage()
    if usage:
        used, total = usage
        doc.facts["ntfs"] = {"used_bytes": used, "total_bytes": total}
        free = total - used
        status = WARN if free < min(total // 10, 1 << 30) else INFO
        doc.add("windows", "space", status, f"NTFS {format_size(used)} used of "
                f"{format_size(total)} ({format_size(free)} free)"
                + ("; nearly full: updates and temp files fail" if status == WARN else ""),
                f"diskkit ramos plan --from {os.path.basename(facts.image)} for the smallest VHD "
                "that holds it")
    fix = "deploy Windows into the VHD: diskkit ramos script deploy ..."
    if not win.exists("/Windows"):
        doc.add("windows", "deployed", FAIL, "no \\Windows folder in the Windows partition: "
                "Windows is not deployed yet", fix)
        return hives
    for path, why in (("/Windows/System32/winload.efi", "the boot manager stops with 0xc000000f"),
                      (KERNEL, "winload finds no kernel")):
        if win.exists(path):
            doc.add("windows", os.path.basename(path), PASS, f"{path.replace('/', chr(92))} is present")
        else:
            doc.add("windows", os.path.basename(path), FAIL,
                    f"no {path.replace('/', chr(92))}: {why}", fix)
    from ..windows.hive import hive_from_stream
    from ..windows.locate import SOFTWARE_HIVE, SYSTEM_HIVE
    from ..windows.software import SoftwareHive
    from ..windows.system import SystemHive

    for path, cls, attr in ((SYSTEM_HIVE, SystemHive, "system"),
                            (SOFTWARE_HIVE, SoftwareHive, "software")):
        if not win.exists(path):
            doc.add("windows", attr, FAIL, f"no {path.replace('/', chr(92))} hive", fix)
            continue
        try:
            with win.open(path) as fh:
                setattr(hives, attr, cls(hive_from_stream(fh, path)))
        except DiskkitError as exc:
            doc.add("windows", attr, FAIL, f"the {attr.upper()} hive is unreadable: {exc}",
                    "boot the VHD in a VM once; Windows repairs its hives from the logs")
    if hives.system is not None:
        hives.arch = hives.system.architecture()
    version = hives.software.version() if hives.software is not None else None
    if version is not None:
        doc.facts["windows"] = {**version.to_dict(), "architecture": hives.arch}
        doc.add("windows", "version", INFO, f"{version.name}"
                + (f", {version.edition}" if version.edition else "")
                + (f", {hives.arch}" if hives.arch else ""))
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
            doc.add("drivers", "svbus", FAIL, "SVBus is not installed: Windows stops with "
                    "INACCESSIBLE_BOOT_DEVICE (0x7B) at the first RAM boot",
                    "diskkit ramos script deploy ... --svbus DIR (or dism /Image:V:\\ "
                    "/Add-Driver /Driver:SVBus /Recurse /ForceUnsigned)")
        elif not svbus.boot_start:
            doc.add("drivers", "svbus", FAIL, f"SVBus starts as {svbus.start_name} (Start="
                    f"{svbus.effective_start}), not with the kernel: 0x7B at the first RAM boot",
                    _reg_start_fix(system, svbus.name))
        else:
            doc.add("drivers", "svbus", PASS, "SVBus is a boot-start service")
    else:
        doc.add("drivers", "svbus", INFO, f"{chain.name} uses Microsoft's ramdisk driver: no "
                "SVBus needed")
    for name in ("storahci", "stornvme"):
        service = system.service(name)
        if service is None:
            continue
        if service.boot_start:
            doc.add("drivers", name, PASS, f"{name} starts with the kernel")
        else:
            doc.add("drivers", name, WARN, f"{name} starts as {service.start_name}: on a machine "
                    "whose disk controller differs from the VM's, 0x7B", _reg_start_fix(system, name))
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
        doc.add("drivers", "hwids", WARN, f"{path}: no storage controller (PCI class 01) among "
                "its IDs; was it made with pnputil /enum-devices /connected /ids on the target?")
        return
    win = vols.windows
    if win is None:
        return
    infs = _store_infs(win)
    system = hives.system
    for device, (kind, ids) in sorted(devices.items()):
        matches = [(pkg, inf) for pkg, inf in infs if set(inf.hardware_ids) & ids]
        if not matches:
            doc.add("drivers", f"hwid {device}", FAIL, f"{kind} controller {device}: no driver "
                    "for it in the image's driver store: 0x7B on that machine",
                    "diskkit drivers pack D:\\drv --out D:\\drv-min --boot-critical, then "
                    "diskkit ramos script deploy ... --drivers D:\\drv-min")
            continue
        services = {s.name for _, inf in matches for s in inf.services}
        booting = [s for s in services if system.service(s) and system.service(s).boot_start]
        if hives.arch == "AMD64" and all(inf.architectures and "amd64" not in inf.architectures
                                         for _, inf in matches):
            doc.add("drivers", f"hwid {device}", FAIL, f"{kind} controller {device}: only x86 "
                    f"drivers match ({', '.join(p for p, _ in matches)}), and Windows is x64",
                    "export the x64 driver on the target machine: pnputil /export-driver * D:\\drv")
        elif booting:
            doc.add("drivers", f"hwid {device}", PASS, f"{kind} controller {device}: "
                    f"{', '.join(sorted(booting))} installed as a boot-start service")
        else:
            name = sorted(services)[0] if services else "?"
            doc.add("drivers", f"hwid {device}", FAIL, f"{kind} controller {device}: driver "
                    f"found ({matches[0][0]}) but its service {name} does not start with the "
                    "kernel: 0x7B on that machine", _reg_start_fix(system, name))


# -- settings that make no sense in RAM -------------------------------------------------------------

def _ram_settings(doc: Doctor, hives: Hives) -> None:
    system, software = hives.system, hives.software
    slim = "diskkit ramos script slim (step {}) inside the VM"
    if system is not None:
        pages = system.paging_files()
        if pages:
            doc.add("ram", "pagefile", WARN, f"a pagefile is set ({'; '.join(pages)}): paging RAM "
                    "into the RAM disk only wastes both", slim.format("pagefile-off"))
        else:
            doc.add("ram", "pagefile", PASS, "no pagefile")
        hibernate = system.hibernate_enabled()
        if hibernate is False:
            doc.add("ram", "hibernation", PASS, "hibernation is off")
        else:
            doc.add("ram", "hibernation", WARN, "hibernation is " + ("on" if hibernate else
                    "not turned off") + ": hiberfil.sys takes a good part of RAM size in the "
                    "RAM disk", slim.format("hibernation-off"))
        for service, what in (("WSearch", "the search indexer rewrites its index in the RAM "
                               "disk, lost at every power-off"),
                              ("SysMain", "SysMain (Superfetch) caches from a disk that is "
                               "already RAM")):
            found = system.service(service)
            if found is None:
                continue
            if found.effective_start == 4:
                doc.add("ram", service.lower(), PASS, f"{service} is disabled")
            else:
                doc.add("ram", service.lower(), WARN, f"{service} starts as {found.start_name}: "
                        f"{what}", f"sc config {service} start= disabled (inside the VM)")
    if software is not None:
        if software.system_restore_disabled():
            doc.add("ram", "restore", PASS, "System Restore is off")
        else:
            doc.add("ram", "restore", WARN, "System Restore is on: restore points fill the "
                    "small VHD and vanish at power-off", slim.format("restore-off"))


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
        doc.add("outer", "loader", FAIL, "no EFI loader on the ESP besides Windows' own",
                f"diskkit esp build ESP --loader LOADER.efi --config {chain.filename}")
        return
    if not beside:
        other = [f for f in files if f.upper().endswith((".CFG", ".LST")) and
                 any(os.path.dirname(e).upper() == os.path.dirname(f).upper() for e in efis)]
        doc.add("outer", "config", FAIL, f"no {chain.filename} beside the loader "
                f"({', '.join(efis)})" + (f"; found {', '.join(other)}: the loader reads only "
                                          f"{chain.filename}" if other else ""),
                f"rename it to {chain.filename}, or: diskkit boot config --chain {chain.name} "
                f"--vhd {os.path.basename(image)} --vhd-path PATH --out {chain.filename}")
        return
    config = beside[0]
    loader = next(e for e in efis if os.path.dirname(e).upper() == os.path.dirname(config).upper())
    problem = _efi_problem(reader, loader)
    if problem:
        doc.add("outer", "loader", FAIL, f"{loader} is {problem}",
                f"diskkit esp build ESP --loader grubx64.efi ({chain.summary})")
    else:
        doc.add("outer", "loader", PASS, f"loader {loader} with its {chain.filename}")
    with reader.open(config) as fh:
        text = fh.read(1 << 20).decode("utf-8", "replace")
    vhd_name = os.path.basename(image).lower()
    if vhd_name not in text.lower():
        doc.add("outer", "vhd-path", WARN, f"{config} does not name {os.path.basename(image)}: "
                "it boots another VHD, or this one was renamed",
                f"diskkit boot config --chain {chain.name} --vhd {os.path.basename(image)} "
                "--vhd-path PATH")
    else:
        doc.add("outer", "vhd-path", PASS, f"{config} names {os.path.basename(image)}")
    if chain.ms_ramdisk:
        offsets = [int(m) for m in re.findall(r"imgofs=(\d+)", text)]
        if offsets and any(o != facts.windows_offset for o in offsets):
            doc.add("outer", "imgofs", FAIL, f"{config}: imgofs={offsets[0]}, but Windows starts "
                    f"at byte {facts.windows_offset} of the VHD (0xc0000225 at boot)",
                    f"diskkit boot config --chain {chain.name} --vhd {os.path.basename(image)} "
                    "--vhd-path PATH")
        elif offsets:
            doc.add("outer", "imgofs", PASS, f"imgofs={offsets[0]} is the Windows partition's offset")
        from ..boot.chains import NTLOADER_LINUX_FORM_SINCE, check_config, format_version

        try:  # boot/chains.py knows which form an older GRUB cannot start
            check_config(chain.name, text, (2, 6))
        except UsageError:
            doc.add("outer", "grub-version", INFO, f"{config} starts ntloader with linux/initrd: "
                    f"the GRUB beside it must be {format_version(NTLOADER_LINUX_FORM_SINCE)} or "
                    "later (older ones reset the machine); the version is not readable from the "
                    "EFI file")
    if chain.esp_files:
        missing = []
        for default in chain.esp_files:  # where the config loads them from, else the default
            word = os.path.basename(default)
            paths = re.findall(r"(/[^\s\"'=]*" + re.escape(word) + r")(?![\w/.])", text)
            missing += [p for p in paths or [default] if p.upper() not in upper]
        names = " and ".join(os.path.basename(f) for f in chain.esp_files)
        if missing:
            adds = " ".join(f"--add {os.path.basename(f)}={f}" for f in chain.esp_files)
            doc.add("outer", "esp-files", FAIL, f"{', '.join(sorted(set(missing)))} not on the "
                    "ESP: GRUB stops with 'file not found'", f"diskkit esp build ESP {adds}")
        else:
            doc.add("outer", "esp-files", PASS, f"{names} are on the ESP")


def _machine_bcd(doc: Doctor, reader, facts, chain, image: str) -> None:
    """bootmgr-ramdisk and vhd-native live in the machine's own BCD: an entry must boot this
    VHD, and a RAM disk entry's options must hold the Windows partition's offset."""
    from ..windows.bcd import read_store
    from ..windows.hive import hive_from_stream

    base = os.path.basename(image)
    fix = (f"diskkit boot config --chain {chain.name} --vhd {base} --vhd-path D:\\ramos\\{base} "
           f"--out {chain.filename}, then run it on that machine as administrator")
    if not reader.exists(ESP_BCD):
        doc.add("outer", "bcd", FAIL, f"no \\EFI\\Microsoft\\Boot\\BCD on this ESP: {chain.name} "
                "adds its entry to the Windows Boot Manager's store there", fix)
        return
    try:
        with reader.open(ESP_BCD) as fh:
            store = read_store(hive_from_stream(fh, f"--esp {ESP_BCD}"))
    except DiskkitError as exc:
        doc.add("outer", "bcd", FAIL, f"the machine's BCD is unreadable: {exc}")
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
        doc.add("outer", "bcd", FAIL, f"no entry in the machine's BCD boots {base} as "
                f"{kind}=...", fix)
        return
    obj, value = entries[0]
    name = obj.description or obj.guid
    order = store.bootmgr.get("displayorder") if store.bootmgr else None
    if not isinstance(order, list) or obj.guid not in order:
        doc.add("outer", "bcd", WARN, f"entry {name!r} boots {base} but is not in the boot "
                "menu (displayorder)", f"bcdedit /displayorder {obj.guid} /addlast")
    else:
        doc.add("outer", "bcd", PASS, f"entry {name!r} boots {value.device.to_text()}")
    if kind != "ramdisk":
        return
    options = store.objects.get(value.options or "")
    offset = options.get("ramdiskimageoffset") if options else None
    if offset != facts.windows_offset:
        doc.add("outer", "imgofs", FAIL, f"{store.name_of(value.options or '-')} has "
                f"ramdiskimageoffset {offset}, but Windows starts at byte {facts.windows_offset} "
                "of the VHD (0xc0000225 at boot)", f"bcdedit /set {store.name_of(value.options or '')} "
                f"ramdiskimageoffset {facts.windows_offset}")
    else:
        doc.add("outer", "imgofs", PASS, f"ramdiskimageoffset {offset} is the Windows partition's "
                "offset")


def _firmware(doc: Doctor, chain) -> None:
    if chain.language == "cmd":
        doc.add("firmware", "secure-boot", INFO, f"{chain.name} starts from the Microsoft-signed "
                "Windows Boot Manager")
    else:
        doc.add("firmware", "secure-boot", INFO, f"Secure Boot must be off in the firmware setup: "
                f"{chain.name}'s loader is not signed for it")
