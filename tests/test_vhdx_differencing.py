"""Differencing VHDX (Hyper-V checkpoints) read through their parents, against libvhdi.

qemu-img cannot make or read differencing VHDX files ("Backing file not supported for file
format 'vhdx'"), so children are built here from the spec (parent locator, payload blocks
fully and partially present, sector bitmaps) and judged by libvhdi (pyvhdi with its parent
set); merged copies are judged by qemu-img. The Hyper-V checkpoint of the corpus is read with a
parent made for it (its own parent is not in the corpus).
"""

from __future__ import annotations

import json
import os
import random

import pytest

from benchmarks.fuzz_targets import set_data_write_guid
from diskkit import vhdx
from diskkit.errors import CorruptImage, NotFound, Unsupported
from diskkit.image import open_image
from diskkit.vhdx import bat as batmod
from diskkit.vhdx import parent as parentmod
from diskkit.vhdx.create import write_new
from support import diskkit, need_module, run

MiB = 1 << 20
SIZE = 9 * MiB + 4096


def pyvhdi_chain(child, parent) -> tuple:
    """Child handle with its parent set, as libvhdi reads a chain (caller closes both)."""
    pyvhdi = need_module("pyvhdi")
    top, base = pyvhdi.file(), pyvhdi.file()
    base.open(str(parent))
    top.open(str(child))
    top.set_parent(base)
    return top, base


def libvhdi_read(child, parent, offset: int, length: int) -> bytes:
    top, base = pyvhdi_chain(child, parent)
    try:
        return top.read_buffer_at_offset(length, offset)
    finally:
        top.close()
        base.close()


def read_all(path) -> bytes:
    with open_image(str(path)) as dev:
        return dev.read_at(0, dev.size)


def locator(parent, linkage: str | None = None) -> dict:
    linkage = linkage or vhdx.info(parent)["header"]["data_write_guid"]
    return {"parent_linkage": "{" + linkage + "}",
            "relative_path": ".\\" + os.path.basename(parent),
            "absolute_win32_path": "C:\\VMs\\" + os.path.basename(parent)}


def add_blocks(child, blocks: dict, bitmaps: dict, block_size: int = MiB,
               sector: int = 512) -> None:
    """Write payload blocks (index -> (state, bytes or None)) and sector bitmaps (chunk ->
    bytes) into a new, empty differencing ``child`` at its end, then point its BAT at them."""
    ratio = batmod.chunk_ratio(block_size, sector)
    with open(child, "r+b") as fh:
        end = -(-os.path.getsize(child) // MiB) * MiB
        entries = {}
        for index, (state, data) in blocks.items():
            at = 0
            if data is not None:
                at, end = end, end + block_size
                fh.seek(at)
                fh.write(data)
            entries[batmod.payload_index(index, ratio)] = batmod.make_entry(state, at)
        for chunk, bitmap in bitmaps.items():
            fh.seek(end)
            fh.write(bitmap.ljust(MiB, b"\0"))
            entries[batmod.bitmap_index(chunk, ratio)] = batmod.make_entry(batmod.SB_PRESENT, end)
            end += MiB
        fh.truncate(end)
        for idx, entry in entries.items():
            fh.seek(3 * MiB + 8 * idx)
            fh.write(entry.to_bytes(8, "little"))


@pytest.fixture
def chain(tmp_path):
    """base.vhdx with data everywhere, snap.avhdx over it: block 0 fully present, block 2
    partially present (sectors 0..9 and 1000..1023 of the block), block 3 zero, the rest
    from the parent; and the bytes the chain must read."""
    rng = random.Random(7)
    base, snap = tmp_path / "base.vhdx", tmp_path / "snap.avhdx"
    vhdx.create(base, SIZE, block_size=MiB)
    content = bytearray(rng.randbytes(SIZE))
    content[5 * MiB:7 * MiB] = bytes(2 * MiB)  # a hole in the parent
    with open_image(str(base), writable=True) as dev:
        dev.write_at(0, bytes(content))
    write_new(snap, SIZE, MiB, parent=locator(base))
    full, partial = rng.randbytes(MiB), rng.randbytes(MiB)
    bitmap = bytearray(MiB)  # chunk 0: 2**23 sectors, all nine blocks here
    present = [*range(2 * 2048, 2 * 2048 + 10), *range(2 * 2048 + 1000, 2 * 2048 + 1024)]
    for sector in present:
        bitmap[sector // 8] |= 1 << sector % 8
    add_blocks(snap, {0: (batmod.FULLY_PRESENT, full), 2: (batmod.PARTIALLY_PRESENT, partial),
                      3: (batmod.ZERO, None)}, {0: bytes(bitmap)})
    content[0:MiB] = full
    for sector in present:
        at = sector * 512
        content[at:at + 512] = partial[at - 2 * MiB:at - 2 * MiB + 512]
    content[3 * MiB:4 * MiB] = bytes(MiB)
    return base, snap, bytes(content)


def test_reads_through_the_parent_as_libvhdi_does(chain, tmp_path):
    base, snap, content = chain
    assert read_all(snap) == content
    theirs = libvhdi_read(snap, base, 0, SIZE)
    # MS-VHDX 2.5.1.1: a block in the ZERO state reads as zeros in every VHDX type; libvhdi
    # reads it from the parent instead, so block 3 is left out of the comparison.
    assert theirs[:3 * MiB] == content[:3 * MiB] and theirs[4 * MiB:] == content[4 * MiB:]
    with open_image(str(snap)) as dev:  # unaligned reads across the bitmap's runs
        for offset, length in [(2 * MiB + 5 * 512 + 7, 3000), (2 * MiB + 999 * 512 - 1, 700),
                               (MiB - 100, MiB + 200)]:
            assert dev.read_at(offset, length) == content[offset:offset + length]
        assert dev.vhdx_type == "differencing" and dev.parent.name == str(base)
    info = json.loads(diskkit("info", snap, "--json").stdout)["container"]
    assert [d["path"] for d in info["chain"]["disks"]] == [str(snap), str(base)]
    assert info["block_states"] == {"fully present": 1, "partially present": 1, "zero": 1,
                                    "not present": 7}
    assert "1: " + str(base) in diskkit("vhdx", "info", snap).stdout


def test_convert_of_a_child_is_the_merged_disk(chain, tmp_path):
    base, snap, content = chain
    for to, name in (("raw", "merged.img"), ("vhdx", "merged.vhdx"), ("dynamic", "merged.vhd")):
        diskkit("convert", snap, tmp_path / name, "--to", to)
    assert (tmp_path / "merged.img").read_bytes() == content
    run("qemu-img", "check", "-f", "vhdx", tmp_path / "merged.vhdx")
    run("qemu-img", "compare", "-f", "raw", "-F", "vhdx", tmp_path / "merged.img",
        tmp_path / "merged.vhdx")
    run("qemu-img", "compare", "-f", "raw", "-F", "vpc", tmp_path / "merged.img",
        tmp_path / "merged.vhd")
    assert vhdx.info(tmp_path / "merged.vhdx")["type"] == "dynamic"


def test_a_child_is_read_only(chain):
    _, snap, _ = chain
    with pytest.raises(Unsupported, match="does not write to it"):
        open_image(str(snap), writable=True)
    proc = diskkit("resize", snap, "--size", "20M", check=False)
    assert proc.returncode == 2 and "differencing VHDX" in proc.stderr


def test_two_level_chain_with_absolute_path_fallback(chain, tmp_path):
    base, snap, content = chain
    top = tmp_path / "top.avhdx"
    entries = locator(snap)
    entries["relative_path"] = ".\\elsewhere\\snap.avhdx"  # wrong: the Win32 name is found
    write_new(top, SIZE, MiB, parent=entries)
    add_blocks(top, {8: (batmod.FULLY_PRESENT, b"\x5a" * MiB)}, {})
    expected = content[:8 * MiB] + b"\x5a" * MiB + content[9 * MiB:]
    assert read_all(top) == expected
    chain_info = vhdx.info(top)["chain"]
    assert [d["path"] for d in chain_info["disks"]] == [str(top), str(snap), str(base)]


def test_broken_chains_are_refused_in_one_line(chain, tmp_path, monkeypatch):
    base, snap, _ = chain
    loop = tmp_path / "loop.avhdx"
    write_new(loop, SIZE, MiB, parent=locator(base, "11111111-2222-3333-4444-555555555555")
              | {"relative_path": "loop.avhdx"})
    bad_link = tmp_path / "badlink.avhdx"
    write_new(bad_link, SIZE, MiB,
              parent=locator(base, "11111111-2222-3333-4444-555555555555"))
    orphan = tmp_path / "sub" / "orphan.avhdx"
    orphan.parent.mkdir()
    write_new(orphan, SIZE, MiB, parent=locator(base) | {"absolute_win32_path": ""})
    cases = [(loop, CorruptImage, "a loop"), (bad_link, CorruptImage, "DataWriteGuid"),
             (orphan, NotFound, "not found")]
    for path, error, text in cases:
        with pytest.raises(error, match=text):
            open_image(str(path))
        proc = diskkit("convert", path, tmp_path / "out.img", "--to", "raw", check=False)
        assert proc.returncode != 0 and text in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        assert "broken" in diskkit("vhdx", "info", path).stdout
    monkeypatch.setattr(parentmod, "MAX_DEPTH", 0)
    with pytest.raises(CorruptImage, match="more than 0 disks deep"):
        open_image(str(snap))


def test_hyperv_checkpoint_reads_as_libvhdi_reads_it(corpus, tmp_path):
    snap = corpus.copy("vhd-foreign/dissect-differencing.avhdx", tmp_path)
    entries = vhdx.info(snap)["parent"]
    base = tmp_path / entries["relative_path"].lstrip(".\\")
    vhdx.create(base, 8 << 30, block_size=2 * MiB)  # the checkpoint's parent is not in the corpus
    set_data_write_guid(base, entries["parent_linkage"])
    with open_image(str(snap)) as dev:
        blocks = [start for start, _ in dev.allocated_ranges()]
    assert blocks
    with open_image(str(base), writable=True) as dev:  # a pattern under each block it holds
        for n, start in enumerate(blocks):
            dev.write_at(start, bytes([n + 1]) * (256 * 1024))
    set_data_write_guid(base, entries["parent_linkage"])
    top, parent = pyvhdi_chain(snap, base)
    try:
        with open_image(str(snap)) as dev:
            for start, length in dev.allocated_ranges():
                for offset in range(start, start + length, 2 * MiB):
                    n = min(2 * MiB, start + length - offset)
                    ours = dev.read_at(offset, n)
                    assert ours == top.read_buffer_at_offset(n, offset), offset
    finally:
        top.close()
        parent.close()
    assert vhdx.check(snap).clean
