"""Property tests: edit sequences against a brute-force model, corruption, repair."""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import run

from diskkit import part, testing
from diskkit.blockdev import MemoryDevice
from diskkit.errors import DiskkitError, NoSpace
from diskkit.units import KiB, MiB

DISK = 8 * MiB
SS = 512


class Model:
    """What the table should hold, computed by brute force over every aligned start."""

    def __init__(self, kind: str, first: int, last: int):
        self.kind, self.first, self.last = kind, first, last
        self.parts: dict[int, tuple[int, int]] = {}
        self.slots = 128 if kind == "gpt" else 4

    def free(self, lba: int, skip: int | None = None) -> bool:
        return self.first <= lba <= self.last and not any(
            a <= lba <= b for i, (a, b) in self.parts.items() if i != skip)

    def run_from(self, start: int, skip: int | None = None) -> int:
        if not self.free(start, skip):
            return 0
        ends = [a for i, (a, _) in self.parts.items() if i != skip and a > start]
        return min(ends + [self.last + 1]) - start

    def add(self, sectors: int | None, align: int) -> tuple[int, int] | None:
        index = next((i for i in range(1, self.slots + 1) if i not in self.parts), None)
        starts = [s for s in range(0, self.last + 1, align) if self.free(s)]
        if sectors is None:
            runs = [(self.run_from(s), -s) for s in starts]
            if index is None or not runs:
                return None
            length, neg = max(runs)
            self.parts[index] = (-neg, -neg + length - 1)
        else:
            fit = next((s for s in starts if self.run_from(s) >= sectors), None)
            if index is None or fit is None:
                return None
            self.parts[index] = (fit, fit + sectors - 1)
        return self.parts[index]

    def resize(self, index: int, sectors: int | None) -> bool:
        first, _ = self.parts[index]
        room = self.run_from(first, skip=index)
        if sectors is None:
            sectors = room
        if sectors > room:
            return False
        self.parts[index] = (first, first + sectors - 1)
        return True


ops = st.lists(st.tuples(
    st.sampled_from(["add", "add", "delete", "resize"]),
    st.one_of(st.none(), st.integers(1, 3 * MiB // SS)),  # size in sectors; None: rest/grow
    st.sampled_from([4 * KiB, 64 * KiB, MiB]),  # alignment
    st.integers(0, 1000),  # picks an existing partition
), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["gpt", "mbr"]), ss=st.sampled_from([512, 4096]), steps=ops)
def test_edit_sequences_match_model(kind, ss, steps):
    dev = MemoryDevice(DISK)
    dev.sector_size = ss
    table = part.init_gpt(dev) if kind == "gpt" else part.init_mbr(dev)
    assert table.sector_size == ss
    model = Model(kind, table.first_usable_lba, table.last_usable_lba)
    for op, sectors, align, pick in steps:
        existing = sorted(model.parts)
        if op == "add":
            expected = model.add(sectors, align // ss)
            size = None if sectors is None else sectors * ss
            if expected is None:
                try:
                    part.add_partition(dev, "linux", size, align=align)
                except DiskkitError:
                    continue
                raise AssertionError("diskkit placed a partition the model could not")
            p = part.add_partition(dev, "linux", size, align=align)
            assert (p.first_lba, p.last_lba) == expected
        elif existing and op == "delete":
            index = existing[pick % len(existing)]
            part.delete_partition(dev, index)
            del model.parts[index]
        elif existing:
            index = existing[pick % len(existing)]
            if model.resize(index, sectors):
                part.resize_partition(dev, index, size=None if sectors is None else sectors * ss,
                                      grow=sectors is None)
            else:
                try:
                    part.resize_partition(dev, index, size=sectors * ss)
                except NoSpace:
                    continue
                raise AssertionError("diskkit resized over a neighbour")
        got = {p.index: (p.first_lba, p.last_lba) for p in part.read_table(dev).partitions}
        assert got == model.parts
        assert part.verify(dev).clean
    with tempfile.NamedTemporaryFile(suffix=".img") as fh:
        fh.write(dev.buf)
        fh.flush()
        if kind == "gpt" and ss == 512:
            assert "No problems found" in run("sgdisk", "-v", fh.name, check=False).stdout
        listed = run("fdisk", "-b", str(ss), "-l", "-o", "Device,Start,End", fh.name).stdout
        rows = {int(line.split()[0][len(fh.name):]): tuple(map(int, line.split()[1:3]))
                for line in listed.splitlines() if line.startswith(fh.name)}
        assert rows == model.parts


@functools.lru_cache(maxsize=None)
def sfdisk_dos_sample() -> bytes:
    """A DOS table with logical partitions made by sfdisk (another tool's writing)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dos.img")
        with open(path, "wb") as fh:
            fh.truncate(2 * MiB)
        subprocess.run(["sfdisk", "-q", path], check=True, capture_output=True,
                       input=b"label: dos\nsize=200K, type=c\ntype=5\nsize=100K\nsize=100K\n")
        with open(path, "rb") as fh:
            return fh.read()


def sample_image(kind: str, data) -> tuple[bytes, int]:
    """The disk's bytes and sector size: sfdisk's DOS sample, or a GPT or MBR layout drawn by
    diskkit.testing (counts, holes, alignments, logicals, 512- or 4096-byte sectors)."""
    if kind == "dos":
        return sfdisk_dos_sample(), SS
    table = data.draw(testing.partition_layouts(table=kind, max_size=2 * MiB))
    with tempfile.TemporaryDirectory() as tmp:
        img = testing.make(table, os.path.join(tmp, "disk.img"))
        with open(img.path, "rb") as fh:
            return fh.read(), table.sector_size


def _table_offsets(size: int, ss: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, min(34 * ss, size) - 1),
                     st.integers(max(0, size - 33 * ss), size - 1), st.integers(0, size - 1))


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["gpt", "mbr", "dos"]), data=st.data(),
       cut=st.one_of(st.none(), st.integers(0, 2 * MiB)))
def test_corruption_gives_diskkit_errors_only(kind, data, cut):
    raw, ss = sample_image(kind, data)
    image = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        offset = data.draw(_table_offsets(len(image), ss))
        image[offset] = data.draw(st.integers(0, 255))
    dev = MemoryDevice(bytes(image[:cut] if cut is not None else image))
    dev.sector_size = ss
    report = part.verify(dev)  # never raises for a damaged table
    assert report.to_dict()["subject"]
    for action in (lambda: (lambda table: table and part.describe(table))(part.read_table(dev)),
                   lambda: part.partition_device(dev, 1).read_at(0, 512),
                   lambda: part.repair(dev),
                   lambda: part.add_partition(dev, "linux", 4 * KiB, align=4 * KiB),
                   lambda: part.add_partition(dev, "linux", 4 * KiB, align=4 * KiB, logical=True),
                   lambda: part.resize_partition(dev, 1, grow=True)):
        try:
            action()
        except DiskkitError:
            pass


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 900), min_size=1, max_size=5),
       victim=st.sampled_from(["primary header", "primary entries", "backup header",
                               "backup entries", "both primary"]),
       junk=st.binary(min_size=1, max_size=64))
def test_repair_restores_destroyed_copy(sizes, victim, junk):
    dev = MemoryDevice(4 * MiB)
    part.init_gpt(dev)
    for kib in sizes:
        try:
            part.add_partition(dev, "linux", kib * KiB, align=4 * KiB, name=f"p{kib}")
        except NoSpace:
            break
    before = part.read_table(dev).partitions
    size = dev.size
    spots = {"primary header": [SS], "primary entries": [2 * SS + 100],
             "backup header": [size - SS], "backup entries": [size - 33 * SS],
             "both primary": [SS, 2 * SS]}[victim]
    for spot in spots:
        pattern = (junk * (SS // len(junk) + 1))[:SS]
        if dev.read_at(spot, SS) == pattern:
            pattern = bytes(b ^ 0xFF for b in pattern)
        dev.write_at(spot, pattern)
    assert not part.verify(dev).clean
    changes = part.repair(dev)
    assert changes and "rebuilt" in changes[0]
    assert part.read_table(dev).partitions == before
    assert part.verify(dev).clean
    assert part.repair(dev) == []
