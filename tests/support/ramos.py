"""RAMOS images with a (stand-in) Windows inside, made with other people's tools, for doctor tests.

`ramos init` lays out the VHD; the Windows partition is filled by wimapply (a host tree
captured with wimcapture: the NTFS-3G way of writing a folder into an unmounted NTFS), hives
are written by hivex (tests/winhives.py), the ESP by mtools. ``Ntfs3gFiles`` reads an NTFS
partition with ntfs-3g's ntfsls/ntfscat/ntfsinfo, for as long as diskkit has no NTFS reader.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import tempfile

from support import diskkit, need_tool, run
from support import winhives as W
from support.uefi import grub_efi

MiB = 1024 * 1024


def part_table(image) -> dict:
    return json.loads(diskkit("part", "show", image, "--json").stdout)


def extract_partition(image, part: dict, out) -> None:
    need_tool("dd")
    subprocess.run(["dd", f"if={image}", f"of={out}", "bs=1M", f"skip={part['start'] // MiB}",
                    f"count={part['size'] // MiB}", "conv=sparse", "status=none"], check=True)


def write_partition(image, part: dict, src) -> None:
    subprocess.run(["dd", f"if={src}", f"of={image}", "bs=1M", f"seek={part['start'] // MiB}",
                    "conv=notrunc,sparse", "status=none"], check=True)


def set_ntfs_dirty(part_file) -> None:
    """Set the dirty bit (0x0001) of $VOLUME_INFORMATION in $Volume (MFT record 3), as
    Windows does while a volume is mounted or needs chkdsk."""
    with open(part_file, "r+b") as fh:
        boot = fh.read(512)
        sector = int.from_bytes(boot[11:13], "little")
        cluster = sector * boot[13]
        raw = struct.unpack_from("<b", boot, 64)[0]
        record = 1 << -raw if raw < 0 else raw * cluster
        at = int.from_bytes(boot[48:56], "little") * cluster + 3 * record
        fh.seek(at)
        rec = fh.read(record)
        pos = int.from_bytes(rec[20:22], "little")
        while pos < record:
            kind, length = struct.unpack_from("<II", rec, pos)
            if kind == 0x70:
                value = pos + int.from_bytes(rec[pos + 20:pos + 22], "little")
                flags = (int.from_bytes(rec[value + 10:value + 12], "little") | 1).to_bytes(2, "little")
                mirror = int.from_bytes(boot[56:64], "little") * cluster + 3 * record
                for copy in (at, mirror):  # $MFT and $MFTMirr must agree, or ntfs-3g refuses
                    fh.seek(copy + value + 10)
                    fh.write(flags)
                return
            pos += length
    raise AssertionError("no $VOLUME_INFORMATION in $Volume")


class Ntfs3gFiles:
    """An NTFS partition read through ntfs-3g's tools (the doctor's read interface)."""

    def __init__(self, dev, fs_type=None):
        fd, self.path = tempfile.mkstemp(prefix="doctor-ntfs-")
        with os.fdopen(fd, "wb") as out:
            at = 0
            while at < dev.size:
                chunk = dev.read_at(at, min(8 * MiB, dev.size - at))
                if chunk.strip(b"\0"):
                    out.seek(at)
                    out.write(chunk)
                at += len(chunk)
            out.truncate(dev.size)

    def _list(self, path: str) -> dict[str, tuple[str, bool]]:
        proc = run("ntfsls", "-f", "-F", "-p", path or "/", self.path, check=False)
        if proc.returncode:
            return {}
        return {n.rstrip("/").upper(): (n.rstrip("/"), n.endswith("/"))
                for n in proc.stdout.splitlines() if n not in ("./", "../")}

    def _resolve(self, path: str):
        """(real path, is_dir) with each name matched ignoring case, as Windows does."""
        real, is_dir = "", True
        for part in filter(None, path.split("/")):
            found = self._list(real or "/").get(part.upper()) if is_dir else None
            if found is None:
                return None
            real, is_dir = f"{real}/{found[0]}", found[1]
        return real or "/", is_dir

    def exists(self, path: str) -> bool:
        return self._resolve(path) is not None

    def is_dir(self, path: str) -> bool:
        found = self._resolve(path)
        return bool(found and found[1])

    def listdir(self, path: str) -> list[str]:
        return [name for name, _ in self._list(self._resolve(path)[0]).values()]

    def open(self, path: str):
        proc = subprocess.run(["ntfscat", "-f", self.path, self._resolve(path)[0]],
                              capture_output=True, check=True)
        return io.BytesIO(proc.stdout)

    def dirty(self) -> bool:
        for line in run("ntfsinfo", "-f", "-m", self.path).stdout.splitlines():
            if "Volume Flags:" in line:
                return bool(int(line.split(":")[1].split()[0], 16) & 1)
        return False

    def usage(self):
        return None

    def close(self) -> None:
        os.unlink(self.path)


def open_windows_files():
    """The opener doctor should use: diskkit's NTFS reader when there is one, else ntfs-3g."""
    from diskkit.windows.locate import ntfs_reader_available

    if ntfs_reader_available():
        return None
    need_tool("ntfsls")
    return Ntfs3gFiles


STORNVME_INF = """[Version]
Signature="$WINDOWS NT$"
Class=SCSIAdapter
ClassGuid={4D36E97B-E325-11CE-BFC1-08002BE10318}
Provider=%MSFT%
DriverVer=06/21/2006,10.0.19041.1

[Manufacturer]
%Std%=Std,NTamd64

[Std.NTamd64]
%NVMe%=Stornvme_Inst, PCI\\CC_010802

[Stornvme_Inst.NT]
CopyFiles=Stornvme_Files

[Stornvme_Inst.NT.Services]
AddService = stornvme, 0x00000002, Stornvme_Service

[Stornvme_Service]
ServiceType    = 1
StartType      = 0
ErrorControl   = 1
ServiceBinary  = %12%\\stornvme.sys

[Strings]
MSFT="Microsoft"
Std="Standard NVM Express Controller"
NVMe="Standard NVM Express Controller"
"""


def windows_tree(root, system_keys: dict, software_keys: dict, bcd_keys: dict | None = None):
    """A stand-in Windows: boot files, hives written by hivex, one inbox driver package."""
    sys32 = os.path.join(root, "Windows", "System32")
    os.makedirs(os.path.join(sys32, "config"))
    store = os.path.join(sys32, "DriverStore", "FileRepository", "stornvme.inf_amd64_0a1b2c3d")
    os.makedirs(store)
    for name in ("winload.efi", "winload.exe", "ntoskrnl.exe", "hal.dll"):
        with open(os.path.join(sys32, name), "wb") as fh:
            fh.write(b"MZ stand-in " + name.encode())
    W.build_hive(os.path.join(sys32, "config", "SYSTEM"), system_keys)
    W.build_hive(os.path.join(sys32, "config", "SOFTWARE"), software_keys)
    for name in os.listdir(os.path.join(sys32, "config")):
        if name.endswith(".reg"):
            os.unlink(os.path.join(sys32, "config", name))
    with open(os.path.join(store, "stornvme.inf"), "w", encoding="utf-8") as fh:
        fh.write(STORNVME_INF)
    if bcd_keys is not None:  # \Boot\BCD as bcdboot /f BIOS writes it on MBR images
        os.makedirs(os.path.join(root, "Boot"))
        W.build_hive(os.path.join(root, "Boot", "BCD"), bcd_keys)
        os.unlink(os.path.join(root, "Boot", "BCD.reg"))


def apply_tree(image, part: dict, tree, workdir) -> None:
    """Write a host folder into the image's NTFS partition with wimcapture + wimapply."""
    need_tool("wimapply")
    wim = os.path.join(workdir, "tree.wim")
    run("wimcapture", tree, wim, "--compress=none")
    part_file = os.path.join(workdir, "part.ntfs")
    extract_partition(image, part, part_file)
    run("wimapply", wim, "1", part_file)
    write_partition(image, part, part_file)
    os.unlink(part_file)
    os.unlink(wim)


def put_in_ntfs(image, part: dict, host_file, dest, workdir, dirty: bool = False) -> None:
    """Replace one file in the NTFS partition with ntfscp (or only mark the volume dirty)."""
    part_file = os.path.join(workdir, "part.ntfs")
    extract_partition(image, part, part_file)
    if host_file:
        run("ntfscp", "-f", part_file, host_file, dest)
    if dirty:
        set_ntfs_dirty(part_file)
    write_partition(image, part, part_file)
    os.unlink(part_file)


def esp_target(image, part: dict) -> str:
    return f"{image}@@{part['start']}"


def build_ramos(workdir, chain: str = "grub2-map", svbus: bool = True,
                size: str = "300M") -> dict:
    """A RAMOS image for ``chain`` holding a stand-in Windows and, for GPT, an ESP made as
    bcdboot makes it. Returns the paths and the table."""
    need_tool("mcopy")
    need_tool("hivexregedit")
    workdir = str(workdir)
    image = os.path.join(workdir, "win.vhd")
    diskkit("ramos", "init", image, "--size", size, "--chain", chain, "--preallocate")
    table = part_table(image)
    parts = {p["index"]: p for p in table["partitions"]}
    tree = os.path.join(workdir, "tree")
    if table["table"] == "gpt":
        esp, win = parts[1], parts[3]
        bcd = W.ramos_bcd("gpt", table["disk_guid"], esp["guid"], win["guid"])
        windows_tree(tree, W.system_keys(svbus=svbus), W.software_keys())
        target = esp_target(image, esp)
        for folder in ("::/EFI", "::/EFI/BOOT", "::/EFI/Microsoft", "::/EFI/Microsoft/Boot"):
            run("mmd", "-i", target, folder)
        loader = grub_efi(os.path.join(workdir, "bootx64.efi"))
        run("mcopy", "-i", target, loader, "::/EFI/BOOT/BOOTX64.EFI")
        bcd_file = W.build_hive(os.path.join(workdir, "BCD"), bcd)
        run("mcopy", "-i", target, bcd_file, "::/EFI/Microsoft/Boot/BCD")
    else:
        win = parts[1]
        signature = int(table["disk_signature"], 16) if isinstance(table["disk_signature"], str) \
            else table["disk_signature"]
        bcd = W.ramos_bcd("mbr", signature, win["start"], win["start"])
        windows_tree(tree, W.system_keys(svbus=False), W.software_keys(), bcd)
    apply_tree(image, win, tree, workdir)
    shutil.rmtree(tree)
    return {"image": image, "table": table, "parts": parts, "windows": win, "workdir": workdir}


def outer_esp(folder, chain: str, image, loader_dir: str = "/EFI/ramos",
              config_name: str | None = None, with_ntloader: bool = True) -> str:
    """The machine's ESP as a folder: a GRUB EFI, the chain's config from `boot config`
    (under ``config_name`` to test a wrongly named one), ntloader's files for ntloader."""
    folder = str(folder)
    target = os.path.join(folder, *loader_dir.strip("/").split("/"))
    os.makedirs(target)
    grub_efi(os.path.join(target, "grubx64.efi"), prefix=loader_dir)
    config = os.path.join(target, config_name or ("menu.lst" if chain == "grub4efi" else "grub.cfg"))
    diskkit("boot", "config", "--chain", chain, "--vhd", image, "--vhd-path",
            "/ramos/" + os.path.basename(image), "--out", config)
    if chain == "ntloader" and with_ntloader:
        nt = os.path.join(folder, "EFI", "ntloader")
        os.makedirs(nt)
        for name in ("ntloader", "initrd.cpio"):
            with open(os.path.join(nt, name), "wb") as fh:
                fh.write(b"stand-in " + name.encode())
    return folder
