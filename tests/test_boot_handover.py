"""What ntloader receives, proven without ntloader: Debian's Linux kernel stands in its place.

The kernel is an EFI program that, like ntloader, takes ``initrd=`` on its command line when
chainloaded and an initrd from GRUB's ``initrd`` with ``linux``; it prints its command line on
the serial console. An ESP built by ``esp build --grub-mkimage`` (GRUB 2.06 from Debian 12 and
GRUB 2.12 from Debian 13, each with the config form ``boot config`` emits for it) boots under
OVMF; the kernel's "Command line:" must carry exactly the uuid= (blkid's, of the partition
holding the VHD), ram= (':' for spaces) and imgofs= (sfdisk's start) the config promises, and
the initramfs named in the config runs (its /init prints a marker and powers off).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess

import pytest

from diskkit.boot.chains import BootTarget, render
from diskkit.boot.target import read_facts
from support import ENV, debian, diskkit, need_tool, run
from support.boot import outer_disk
from support.kernel import newc
from support.uefi import boot_uefi

pytestmark = pytest.mark.slow

VHD_PATH = "/ram os/win 11.vhd"
INIT_MARKER = b"diskkit-initramfs-named-in-the-config-5b1e"
# test-only arguments after the chain's own: the kernel's console on the serial port
CONSOLE = ("console=ttyS0", "panic=-1")


def tiny_init(message: bytes) -> bytes:
    """A static x86-64 ELF /init: write(1, message), then reboot(POWER_OFF)."""
    base, code_at = 0x400000, 64 + 56
    code = (b"\xb8\x01\x00\x00\x00" b"\xbf\x01\x00\x00\x00"        # eax=write, edi=1
            b"\x48\x8d\x35" + struct.pack("<i", 48 - 17) +          # rsi = message
            b"\xba" + struct.pack("<I", len(message)) + b"\x0f\x05"  # edx = len; syscall
            b"\xb8\xa9\x00\x00\x00" b"\xbf\xad\xde\xe1\xfe"          # eax=reboot, magic 1
            b"\xbe\x69\x19\x12\x28" b"\xba\xdc\xfe\x21\x43"          # magic 2, POWER_OFF
            b"\x0f\x05" b"\xeb\xfe")                                # syscall; loop
    assert len(code) == 48
    size = code_at + len(code) + len(message)
    header = (b"\x7fELF\x02\x01\x01" + bytes(9)
              + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, base + code_at, 64, 0, 0, 64, 56, 1,
                            0, 0, 0))
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return header + program + code + message


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    need_tool("grub-mkimage")
    need_tool("blkid")
    work = tmp_path_factory.mktemp("handover")
    payload = str(work / "payload.vhd")
    diskkit("ramos", "init", payload, "--size", "20M", "--chain", "ntloader", "--no-ntfs")
    outer = str(work / "outer.img")
    outer_disk(outer, payload, VHD_PATH, esp_size=40 << 20)
    initrd = work / "initrd.cpio"
    initrd.write_bytes(newc([("dev", 0o40755, b"", 0), ("dev/console", 0o20600, b"", 0x0501),
                             ("init", 0o100755, tiny_init(INIT_MARKER + b"\n"), 0)]))
    decoy = work / "decoy.cpio"  # the same init with another marker, where no config points
    decoy.write_bytes(newc([("dev", 0o40755, b"", 0), ("dev/console", 0o20600, b"", 0x0501),
                            ("init", 0o100755, tiny_init(b"wrong-initramfs\n"), 0)]))
    sf = json.loads(run("sfdisk", "--json", outer).stdout)["partitiontable"]
    data = sf["partitions"][1]
    sector = sf.get("sectorsize", 512)
    uuid = run("blkid", "-p", "-o", "value", "-s", "UUID", "-O", str(data["start"] * sector),
               "-S", str(data["size"] * sector), outer).stdout.strip()
    inner = json.loads(run("sfdisk", "--json", payload).stdout)["partitiontable"]
    return {"work": work, "payload": payload, "outer": outer, "initrd": initrd, "decoy": decoy,
            "uuid": uuid, "imgofs": inner["partitions"][0]["start"] * inner.get("sectorsize", 512)}


def boot_with(rig, grub_version: tuple[int, int], modules: str | None) -> str:
    work = rig["work"] / f"grub-{grub_version[0]}.{grub_version[1]}"
    work.mkdir()
    target = BootTarget.make(read_facts(rig["payload"]), VHD_PATH, "RAMOS")
    rendered = render("ntloader", target, grub_version=grub_version, timeout=0)
    # the CLI renders the same config; only the test's console arguments are added below
    version = f"{grub_version[0]}.{grub_version[1]:02d}"
    cli = diskkit("boot", "config", "--chain", "ntloader", "--vhd", rig["payload"],
                  "--vhd-path", VHD_PATH, "--timeout", "0", "--grub-version", version).stdout
    assert cli.rstrip("\n") == rendered.text.rstrip("\n")
    config = work / "grub.cfg"
    config.write_text(render("ntloader", target, grub_version=grub_version, timeout=0,
                             loader_args=CONSOLE).text)
    args = ["esp", "build", rig["outer"], "--grub-mkimage", "--chain", "ntloader",
            "--config", config, "--removable",
            "--add", f"{debian.kernel()}=/EFI/ntloader/ntloader",
            "--add", f"{rig['initrd']}=/EFI/ntloader/initrd.cpio",
            "--add", f"{rig['decoy']}=/EFI/decoy/initrd.cpio"]
    if modules:
        args += ["--grub-modules", modules]
    diskkit(*args)
    # the GRUB on the ESP is the one asked for: its normal module carries its version
    need_tool("mtype")
    binary = subprocess.run(["mtype", "-i", f"{rig['outer']}@@1M", "::/EFI/ramos/grubx64.efi"],
                            capture_output=True, env=ENV, check=True).stdout
    assert re.search(rb"\x00" + re.escape(version.encode()) + rb"[-~+.\w]*\x00", binary), version
    return boot_uefi(rig["outer"], "raw", str(work), timeout=240)


def command_line(log: str) -> list[str]:
    match = re.search(r"^\s*(?:\[\s*[\d.]+\]\s*)?Command line: (.*)$", log, re.M)
    assert match, log[-3000:]
    return match.group(1).split()


def check_handover(rig, log: str) -> None:
    words = command_line(log)
    handed = [w for w in words if w.split("=")[0] in ("uuid", "ram", "imgofs")]
    # GRUB prints a FAT serial in lower case, blkid in upper case: the same filesystem UUID
    assert [handed[0].lower(), *handed[1:]] == [
        f"uuid={rig['uuid'].lower()}", "ram=/ram:os/win:11.vhd", f"imgofs={rig['imgofs']}"], words
    assert INIT_MARKER.decode() in log, log[-3000:]
    assert "wrong-initramfs" not in log


def test_grub_206_chainloader_form_hands_over_exactly(rig):
    log = boot_with(rig, (2, 6), None)
    words = command_line(log)
    assert "initrd=/EFI/ntloader/initrd.cpio" in words
    check_handover(rig, log)


def test_grub_212_linux_form_hands_over_exactly(rig):
    modules = debian.grub_modules_212()
    log = boot_with(rig, (2, 12), modules)
    assert not any(w.startswith("initrd=") for w in command_line(log))  # GRUB hands it over
    check_handover(rig, log)
