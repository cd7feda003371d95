"""Small inputs for the modifying commands, made by oracle tools, and their logical state as
the oracles read it (qemu-img, sfdisk, mtools): what an interrupted or refused command must
leave old or new."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from benchmarks import vhdcraft
from support import run

MiB = 1 << 20


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- logical states, read by oracles ----------------------------------------------------------

def disk_content(path: Path, fmt: str, keep: int | None = None) -> str | None:
    """Size and digest of the virtual disk as qemu-img sees it (None if unreadable).

    ``keep``: digest only the first ``keep`` bytes (a forced shrink gives up the rest).
    A VHDX is read from a copy on which qemu replayed the log (an interrupted update leaves
    entries to replay, and qemu refuses to read such a file without replaying).
    """
    raw = path.with_name(path.name + ".qemu-raw")
    if fmt == "vhdx":
        replayed = path.with_name(path.name + ".replayed")
        shutil.copyfile(path, replayed)
        try:
            run("qemu-img", "check", "-r", "all", "-f", "vhdx", replayed, check=False)
            return disk_content(replayed, "vhdx-replayed", keep)
        finally:
            replayed.unlink()
    proc = run("qemu-img", "convert", "-f", fmt.replace("-replayed", ""), "-O", "raw", path, raw,
               check=False)
    if proc.returncode:
        return None
    try:
        size = raw.stat().st_size
        if keep is not None:
            with open(raw, "r+b") as fh:
                fh.truncate(min(size, keep))
        return f"{size}:{sha(raw)}"
    finally:
        raw.unlink()


def table_state(path: Path) -> str | None:
    """Partitions as sfdisk reads them: label, and (start, size, type) per partition."""
    proc = run("sfdisk", "--json", path, check=False)
    if proc.returncode:
        return None
    table = json.loads(proc.stdout)["partitiontable"]
    parts = [(p["start"], p["size"], p["type"], p.get("name")) for p in table.get("partitions", [])]
    return json.dumps([table["label"], parts])


def fat_tree(path: Path, offset: int = 0) -> str | None:
    """Every file path and content digest in the FAT volume, as mtools extracts them."""
    out = path.with_name(path.name + ".mtools")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    image = f"{path}@@{offset}" if offset else str(path)
    try:
        probe = run("mdir", "-i", image, "::/", check=False)
        if probe.returncode or "not found" in probe.stdout + probe.stderr:
            return None
        listing = run("mdir", "-/", "-b", "-i", image, "::/", check=False)  # exit 1 when empty
        if listing.stdout.strip():
            proc = run("mcopy", "-s", "-n", "-i", image, "::/*", out, check=False)
            if proc.returncode:
                return None
        tree = {}
        for dirpath, dirnames, filenames in os.walk(out):
            rel = os.path.relpath(dirpath, out)
            tree.update({os.path.join(rel, d): "dir" for d in dirnames})
            tree.update({os.path.join(rel, f): sha(Path(dirpath, f)) for f in filenames})
        return tree
    finally:
        shutil.rmtree(out, ignore_errors=True)


def vhd_fat_tree(path: Path, fmt: str = "vpc") -> dict | None:
    """The FAT tree inside a VHD (or VHDX, its log replayed by qemu on a copy), read by mtools
    from qemu-img's raw view of it."""
    raw = path.with_name(path.name + ".as-raw")
    copy = path.with_name(path.name + ".replayed")
    try:
        if fmt == "vhdx":
            shutil.copyfile(path, copy)
            run("qemu-img", "check", "-r", "all", "-f", "vhdx", copy, check=False)
            path = copy
        if run("qemu-img", "convert", "-f", fmt, "-O", "raw", path, raw, check=False).returncode:
            return None
        return fat_tree(raw)
    finally:
        raw.unlink(missing_ok=True)
        copy.unlink(missing_ok=True)


# -- inputs ----------------------------------------------------------------------------------

def fat_image(d: Path, name="fat.img", size=4 * MiB, files=True) -> None:
    img = d / name
    with open(img, "wb") as fh:
        fh.truncate(size)
    run("mkfs.fat", "-F", "12" if size < 16 * MiB else "16", "-i", "12345678", img)
    if files:
        payload = d / "payload.bin"
        payload.write_bytes(os.urandom(150_000))
        (d / "small.txt").write_bytes(b"small file\n")
        for cmd in (["mmd", "-i", img, "::/dir"], ["mmd", "-i", img, "::/dir/sub"],
                    ["mcopy", "-i", img, payload, "::/dir/big.bin"],
                    ["mcopy", "-i", img, d / "small.txt", "::/README.TXT"],
                    ["mcopy", "-i", img, d / "small.txt", "::/dir/sub/notes.txt"]):
            run(*cmd)
    (d / "new.bin").write_bytes(os.urandom(300_000))
    tree = d / "tree"
    (tree / "a" / "b").mkdir(parents=True, exist_ok=True)
    for i in range(5):
        (tree / "a" / f"f{i}.txt").write_bytes(os.urandom(9000 * i + 1))
    (tree / "a" / "b" / "deep file with a long name.txt").write_bytes(b"deep\n")


def gpt_image(d: Path) -> None:
    """``disk.img``: 16 MiB, sgdisk's GPT with an ESP and a basic data partition."""
    img = d / "disk.img"
    with open(img, "wb") as fh:
        fh.truncate(16 * MiB)
    run("sgdisk", "-o", "-n", "1:1M:+3M", "-t", "1:ef00", "-c", "1:EFI",
        "-n", "2:0:+4M", "-t", "2:0700", "-c", "2:data", img)


def mbr_image(d: Path) -> None:
    """``disk.img``: 16 MiB, sfdisk's MBR with a primary, an extended and a logical partition."""
    img = d / "disk.img"
    with open(img, "wb") as fh:
        fh.truncate(16 * MiB)
    run("sfdisk", "--no-reread", "--no-tell-kernel", img, input=(
        b"label: dos\nstart=2048, size=6144, type=c\nstart=8192, size=16384, type=5\n"
        b"start=10240, size=4096, type=83\n"))


def vhd_source(d: Path) -> None:
    """A dynamic VHD (4 KiB blocks: many small writes) holding a FAT volume and zero blocks."""
    fat_image(d, "content.raw", 4 * MiB)
    raw = (d / "content.raw").read_bytes()
    (d / "src.vhd").write_bytes(vhdcraft.dynamic_vhd(raw, 65536))
    padded = raw[:MiB] + bytes(MiB) + raw[2 * MiB:]  # a run of zero blocks to compact away
    zeros = bytearray(vhdcraft.dynamic_vhd(padded, 65536))
    (d / "sparse.vhd").write_bytes(zeros)
    (d / "content.raw").unlink()


def fixed_vhd_source(d: Path) -> None:
    """``fixed.vhd``: a fixed VHD holding a FAT volume."""
    fat_image(d, "content.raw", 4 * MiB)
    (d / "fixed.vhd").write_bytes(vhdcraft.fixed_vhd((d / "content.raw").read_bytes()))
    (d / "content.raw").unlink()
