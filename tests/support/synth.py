"""Independent tools judge a synthetic image against its description.

``assert_accepted(path, description, workdir)`` runs qemu-img (info; check for VHDX) and
vhdiinfo (container), sgdisk and sfdisk, or fdisk for 4096-byte sectors (table), fsck.fat,
blkid and mtools (each FAT volume), and asserts each one sees exactly what the description
says.
``reported_by(tool, ...)`` says whether a tool notices the damage an image carries.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

from support import ENV, diskkit, need_module, need_tool, run

from diskkit.synth import Description

MTOOLS_ENV = dict(ENV, LC_ALL="C.UTF-8")  # long names as UTF-8, not '_'
FSCK_PROBLEMS = ("differ", "wrong", "Reclaimed", "Fixing", "Auto-correcting", "Dirty",
                 "share clusters", "loop", "Truncating", "Bad ", "invalid", "Free cluster summary")
GPT_ATTRIBUTE_NAMES = {"RequiredPartition": 0, "NoBlockIOProtocol": 1, "LegacyBIOSBootable": 2}


def qemu_format(kind: str) -> str:
    return {"raw": "raw", "fixed": "vpc", "dynamic": "vpc"}.get(kind, "vhdx")


def qemu_reads(desc: Description) -> bool:
    """qemu refuses VHDX files with 4096-byte logical sectors ("Operation not supported")."""
    return not (desc.container.kind.startswith("vhdx") and desc.sector_size != 512)


def raw_view(path: str, desc: Description, workdir) -> str:
    """The disk as a raw file: the image itself, qemu-img's raw copy of a VHD or VHDX, or
    libvhdi's of a VHDX with 4096-byte sectors."""
    if desc.container.kind == "raw":
        return str(path)
    out = os.path.join(str(workdir), "view.raw")
    if qemu_reads(desc):
        run("qemu-img", "convert", "-f", qemu_format(desc.container.kind), "-O", "raw", path, out)
        return out
    pyvhdi = need_module("pyvhdi")  # libvhdi reads 4Kn VHDX files
    image = pyvhdi.file()
    image.open(str(path))
    try:
        with open(out, "wb") as fh:
            fh.truncate(image.media_size)
            for pos in range(0, image.media_size, 1 << 20):
                block = image.read_buffer_at_offset(min(1 << 20, image.media_size - pos), pos)
                if block.count(0) != len(block):
                    fh.seek(pos)
                    fh.write(block)
    finally:
        image.close()
    return out


def copy_range(src: str, offset: int, size: int, dst: str) -> str:
    """``size`` bytes of ``src`` from ``offset`` into a sparse file (fsck.fat takes no offset);
    only the data regions of a sparse source are read."""
    end = min(offset + size, os.path.getsize(src))
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.truncate(size)
        pos = offset
        while pos < end:
            try:
                pos = os.lseek(fin.fileno(), pos, os.SEEK_DATA)
                stop = min(os.lseek(fin.fileno(), pos, os.SEEK_HOLE), end)
            except OSError:  # no data after pos (ENXIO)
                break
            while pos < stop:
                fin.seek(pos)
                block = fin.read(min(1 << 20, stop - pos))
                fout.seek(pos - offset)
                fout.write(block)
                pos += len(block)
    return dst


# -- container ---------------------------------------------------------------------------------

def vhdiinfo(path: str) -> dict[str, str]:
    out = run("vhdiinfo", path).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())
            if v}


def assert_container(path: str, desc: Description) -> None:
    """qemu-img (size, block size; ``check`` of a VHDX, the format of these it can check) and
    libvhdi's vhdiinfo (size, type, id, sector size)."""
    c = desc.container
    if qemu_reads(desc):
        info = json.loads(run("qemu-img", "info", "-f", qemu_format(c.kind), "--output=json",
                              path).stdout)
        assert info["virtual-size"] == c.size, info
        if c.block_size:
            assert info["cluster-size"] == c.block_size, info
        if qemu_format(c.kind) == "vhdx":
            checked = run("qemu-img", "check", "-f", "vhdx", path, check=False)
            assert checked.returncode == 0 and "No errors" in checked.stdout, checked
    if c.kind == "raw":
        assert os.path.getsize(path) == c.size
        return
    info = vhdiinfo(path)
    assert info["Media size"].endswith(f"({c.size} bytes)"), info
    assert info["Disk type"] == ("Fixed" if c.kind in ("fixed", "vhdx-fixed") else "Dynamic"), info
    if c.kind.startswith("vhdx"):
        assert info["Bytes per sector"] == f"{desc.sector_size} bytes", info
    else:  # for a VHDX, libvhdi shows the data write GUID here, not the disk id
        assert info["Identifier"] == c.unique_id, info


# -- partition table ---------------------------------------------------------------------------

def expected_rows(desc: Description) -> list[tuple]:
    """(index, first LBA, sectors, type, name, guid, attributes, bootable) per partition."""
    t = desc.table
    ss = t.sector_size
    rows = []
    for p in t.partitions:
        kind = p.type.lower() if t.kind == "gpt" else p.type
        rows.append((p.index, p.start // ss, p.size // ss, kind, p.name,
                     p.guid.lower() if p.guid else None, p.attributes, p.bootable))
    return sorted(rows)


def _attribute_bits(text: str) -> int:
    bits = 0
    for word in text.split():
        if word.startswith("GUID:"):
            for n in word[5:].split(","):
                bits |= 1 << int(n)
        else:
            bits |= 1 << GPT_ATTRIBUTE_NAMES[word]
    return bits


def sfdisk_rows(raw: str) -> tuple[dict, list[tuple]]:
    table = json.loads(run("sfdisk", "--json", raw).stdout)["partitiontable"]
    rows = []
    for p in table.get("partitions", []):
        index = int(re.search(r"(\d+)$", p["node"]).group(1))
        if table["label"] == "gpt":
            rows.append((index, p["start"], p["size"], p["type"].lower(), p.get("name", ""),
                         p["uuid"].lower(), _attribute_bits(p.get("attrs", "")), False))
        else:
            rows.append((index, p["start"], p["size"], int(p["type"], 16), "", None, 0,
                         bool(p.get("bootable"))))
    return table, sorted(rows)


def _fdisk_column(raw: str, ss: int, columns: str) -> dict[int, str]:
    """``{index: text}`` of fdisk's listing with ``columns``; the last one runs to line end."""
    out = subprocess.run(["fdisk", "-b", str(ss), "-l", "-o", columns, raw], env=MTOOLS_ENV,
                         capture_output=True, text=True, check=True).stdout  # UTF-8 names
    rows = {}
    for line in out.splitlines():
        if line.startswith(raw):
            device, _, rest = line.partition(" ")
            rows[int(device[len(raw):])] = rest.strip()
    return rows


def fdisk_rows(raw: str, desc: Description) -> list[tuple]:
    """The table as ``fdisk -b SECTOR`` reads it: sfdisk and sgdisk assume 512-byte sectors."""
    ss = desc.table.sector_size
    rows = []
    if desc.table.kind == "gpt":
        main = _fdisk_column(raw, ss, "Device,Start,Sectors,Type-UUID,UUID")
        names = _fdisk_column(raw, ss, "Device,Name")
        attrs = _fdisk_column(raw, ss, "Device,Attrs")
        for index, text in main.items():
            start, sectors, type_guid, guid = text.split()
            rows.append((index, int(start), int(sectors), type_guid.lower(),
                         names.get(index, ""), guid.lower(), _attribute_bits(attrs.get(index, "")),
                         False))
    else:
        main = _fdisk_column(raw, ss, "Device,Boot,Start,Sectors,Id")
        for index, text in main.items():
            words = text.split()
            boot = words[0] == "*"
            start, sectors, code = words[1:] if boot else words
            rows.append((index, int(start), int(sectors), int(code, 16), "", None, 0, boot))
    return sorted(rows)


def assert_table(raw: str, desc: Description) -> None:
    t = desc.table
    if t is None:
        proc = run("sfdisk", "--json", raw, check=False)
        assert proc.returncode != 0 or not json.loads(proc.stdout)["partitiontable"].get(
            "partitions"), proc.stdout
        return
    want = expected_rows(desc)
    if t.sector_size == 512:
        table, rows = sfdisk_rows(raw)
        assert table["label"] == ("gpt" if t.kind == "gpt" else "dos")
        if t.kind == "gpt":
            assert table["id"].lower() == t.disk_guid
            out = run("sgdisk", "-v", raw, check=False).stdout
            assert "No problems found" in out, out
        else:
            assert int(table["id"], 16) == t.disk_signature
        assert rows == want
    else:
        assert fdisk_rows(raw, desc) == want


# -- filesystems -------------------------------------------------------------------------------

def mtools_path(path: str) -> str:
    """A path as mtools matches it literally (its globbing would read [, ], * and ?)."""
    return "::/" + re.sub(r"([\[\]*?\\])", r"\\\1", path)


def mtools_tree(raw: str, offset: int) -> dict[str, bytes | None]:
    """``mdir -/ -b -a`` for the names, ``mtype`` for each file's bytes."""
    need_tool("mdir")
    spec = f"{raw}@@{offset}"
    listing = subprocess.run(["mdir", "-/", "-b", "-a", "-i", spec, "::"], env=MTOOLS_ENV,
                             capture_output=True)
    if listing.returncode:
        assert not listing.stdout.strip(), listing.stderr  # mdir fails on an empty root
        subprocess.run(["minfo", "-i", spec, "::"], env=MTOOLS_ENV, check=True,
                       capture_output=True)
        return {}
    tree: dict[str, bytes | None] = {}
    for line in listing.stdout.decode("utf-8").splitlines():
        assert line.startswith("::/"), line
        name = line[3:]
        if name.endswith("/"):
            tree[name[:-1]] = None
        else:
            typed = subprocess.run(["mtype", "-i", spec, mtools_path(name)], env=MTOOLS_ENV,
                                   capture_output=True)
            assert typed.returncode == 0, typed.stderr
            tree[name] = typed.stdout
    return tree


def fsck(volume_file: str) -> subprocess.CompletedProcess:
    return run("fsck.fat", "-n", "-v", volume_file, check=False)


def assert_volumes(raw: str, desc: Description, workdir) -> None:
    for n, (partition, volume) in enumerate(desc.volumes()):
        offset = desc.offset_of(partition)
        piece = copy_range(raw, offset, volume.size, os.path.join(str(workdir), f"vol{n}.img"))
        proc = fsck(piece)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for word in FSCK_PROBLEMS:
            assert word not in proc.stdout, proc.stdout
        facts = proc.stdout
        assert f"{volume.cluster_count} data clusters" in facts, facts
        assert f"{volume.fat_type} bit entries" in facts, facts
        assert f"{volume.cluster_size} bytes per cluster" in facts, facts
        assert f"{volume.sector_size} bytes per logical sector" in facts, facts
        blkid = {key: re.sub(r"\\(.)", r"\1", value) for key, value in (  # shell-escaped
            line.split("=", 1) for line in run("blkid", "-p", "-o", "export", piece)
            .stdout.splitlines() if "=" in line)}
        assert blkid["TYPE"] == "vfat" and blkid["UUID"] == volume.serial_text, blkid
        assert blkid.get("LABEL") == volume.label, blkid
        assert mtools_tree(raw, offset) == volume.tree()


def assert_accepted(path, desc: Description, workdir) -> None:
    """Every independent tool sees what ``desc`` says is in the image at ``path``."""
    path = os.fspath(path)
    assert_container(path, desc)
    raw = raw_view(path, desc, workdir)
    assert_table(raw, desc)
    assert_volumes(raw, desc, workdir)


# -- damage ------------------------------------------------------------------------------------

LIBFDISK_PROBLEM = re.compile(r"\b[1-9]\d* errors? detected|corrupt", re.I)


def _diskkit_report(desc: Description, proc) -> str | None:
    """``diskkit check``/``part verify`` output when it reports the last damage, else None.
    A refusal (exit 2, one line) reports it too."""
    damage = desc.damage[-1]
    if proc.returncode == 2 and proc.stderr.startswith("diskkit: error:"):
        return proc.stderr
    report = json.loads(proc.stdout)
    if damage.layer == "filesystem":
        prefix = "whole disk:" if damage.partition is None else f"partition {damage.partition}:"
        layer = lambda where: where.startswith(prefix)  # noqa: E731
    elif damage.layer == "container":
        layer = lambda where: where.startswith(("vhd", "image"))  # noqa: E731
    else:
        layer = lambda where: not where.startswith(("vhd", "image", "whole disk"))  # noqa: E731
    found = [p for p in report["problems"]
             if p["severity"] == damage.severity and layer(p["where"])]
    if damage.severity == "error" and proc.returncode != 1:
        return None
    return "; ".join(f"{p['where']}: {p['message']}" for p in found) or None


def _volume_file(raw: str, desc: Description, workdir) -> str:
    damage = desc.damage[-1]
    for partition, volume in desc.volumes():
        if (partition.index if partition else None) == damage.partition:
            return copy_range(raw, desc.offset_of(partition), volume.size,
                              os.path.join(str(workdir), "damaged-volume.img"))
    raise AssertionError(f"no volume in partition {damage.partition}")


def reported_by(tool: str, path, desc: Description, workdir) -> str | None:
    """What ``tool`` says about the image at ``path`` when it notices the damage
    ``desc.damage[-1]``; None when it finds nothing wrong."""
    path = os.fspath(path)
    if tool == "diskkit check":
        return _diskkit_report(desc, diskkit("check", "--json", path, check=False))
    if tool == "diskkit part verify":
        return _diskkit_report(desc, diskkit("part", "verify", path, "--sector-size",
                                             desc.sector_size, "--json", check=False))
    if tool == "qemu-img":  # it refuses to open the image, or (VHDX) its check finds errors
        fmt = qemu_format(desc.container.kind)
        proc = run("qemu-img", "info", "-f", fmt, path, check=False)
        if proc.returncode == 0 and fmt == "vhdx":
            proc = run("qemu-img", "check", "-f", fmt, path, check=False)
        return proc.stdout + proc.stderr if proc.returncode else None
    if tool == "fsck.fat":
        proc = fsck(_volume_file(raw_view(path, desc, workdir), desc, workdir))
        return proc.stdout if proc.returncode else None
    raw = raw_view(path, desc, workdir)
    if tool == "sgdisk":
        proc = run("sgdisk", "-v", raw, check=False)
        out = proc.stdout + proc.stderr
        return out if "Problem" in out or "corrupt" in out else None
    if tool == "sfdisk":
        proc = run("sfdisk", "-V", raw, check=False)
        out = proc.stdout + proc.stderr  # "The primary GPT table is corrupt" goes to stderr
    elif tool == "fdisk":  # its verify command is the only one that takes -b for an image
        proc = subprocess.run(["fdisk", "-b", str(desc.sector_size), raw], input=b"v\nq\n",
                              env=ENV, capture_output=True)
        out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    else:
        raise AssertionError(f"no oracle named {tool!r}")
    return out if LIBFDISK_PROBLEM.search(out) else None
