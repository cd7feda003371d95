"""Pure cores: names (8.3, LFN, checksum), the FAT table, boot sector, directory parsing."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diskkit.errors import CorruptImage, NoSpace, UsageError
from diskkit.fat import names
from diskkit.fat.bootsector import build_boot_sector, parse_boot_sector
from diskkit.fat.directory import (Entry, fat_datetime, from_fat_datetime, parse_directory)
from diskkit.fat.mkfs import choose_layout
from diskkit.fat.table import FatTable, decode_fat12, encode_fat12
from diskkit.units import MiB


def test_checksum_matches_the_spec_algorithm():
    # fatgen103: rotate right by one, add the next byte, for all 11 bytes
    def reference(raw):
        s = 0
        for b in raw:
            s = ((0x80 if s & 1 else 0) + (s >> 1) + b) & 0xFF
        return s

    for raw in (b"GRUB    CFG", b"ALONGF~1TXT", b"\x05ABC    TXT"):
        assert names.lfn_checksum(raw) == reference(raw)


@pytest.mark.parametrize("name, raw, flags, lfn", [
    ("grub.cfg", b"GRUB    CFG", 0x18, False),
    ("README.md", b"README  MD ", 0x10, False),
    ("readme.MD", b"README  MD ", 0x08, False),
    ("KERNEL", b"KERNEL     ", 0, False),
    ("Makefile", b"MAKEFI~1   ", 0, True),
    ("archive.tar.gz", b"ARCHIV~1GZ ", 0, True),
    (".hidden", b"HIDDEN~1   ", 0, True),
    ("a b.txt", b"AB~1    TXT", 0, True),
    ("toolongname.c", b"TOOLON~1C  ", 0, True),
    ("x+y.txt", b"X_Y~1   TXT", 0, True),
])
def test_short_names(name, raw, flags, lfn):
    assert names.short_name_for(name, set()) == (raw, flags, lfn)


def test_numeric_tails_are_unique_and_cheap():
    taken = set()
    for i in range(1, 3001):
        raw, _, _ = names.short_name_for(f"longfilename{i}.txt", taken)
        assert raw not in taken
        taken.add(raw)
    assert b"LONGFI~1TXT" in taken and b"LONGFI~4TXT" in taken and b"LONGFI~5TXT" not in taken
    hashed = [r for r in taken if not r.startswith(b"LONGFI~")]
    assert all(r[:2] == b"LO" and r[6:7] == b"~" for r in hashed[:100])


def test_lfn_layout():
    slots = names.lfn_entries("A Long File Name.txt", b"ALONGF~1TXT")
    assert len(slots) == 64
    first, second = slots[:32], slots[32:]
    assert first[0] == 0x42 and second[0] == 0x01  # last piece first, with 0x40
    assert first[11] == 0x0F and first[26:28] == b"\x00\x00"  # attr, cluster 0
    # 20 chars: piece 2 holds 7 chars, then NUL, then 0xFFFF padding
    piece = first[1:11] + first[14:26] + first[28:32]
    assert piece[14:16] == b"\x00\x00" and piece[16:] == b"\xff" * 10


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80))
def test_lfn_round_trip(name):
    try:
        names.check_long_name(name)
    except UsageError:
        return
    raw, flags, needs_lfn = names.short_name_for(name, set())
    entry = Entry(name, raw, 0x20, nt_flags=flags)
    blob = (names.lfn_entries(name, raw) if needs_lfn else b"") + entry.pack()
    listing = parse_directory(blob + bytes(32))
    assert not listing.problems
    assert [e.name for e in listing.entries] == [name]
    assert listing.entries[0].has_lfn == needs_lfn


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40),
       st.sampled_from(["cp850", "cp437", "cp936", "cp866"]))
def test_short_names_in_any_code_page(name, codec):
    """Any storable name gets a valid 11-byte short name in the code page, found again by it."""
    try:
        names.check_long_name(name)
    except UsageError:
        return
    raw, flags, needs_lfn = names.short_name_for(name, set(), codec)
    assert len(raw) == 11 and names.short_name_problem(raw) is None
    entry = Entry(name, raw, 0x20, nt_flags=flags)
    blob = (names.lfn_entries(name, raw) if needs_lfn else b"") + entry.pack()
    listing = parse_directory(blob + bytes(32), codec=codec)
    assert [e.name for e in listing.entries] == [name]
    assert listing.entries[0].short_name == names.short_display(raw, codec)
    assert names.generate_short_name(name, {raw}, codec) != raw


def test_fat12_packing_bytes():
    """fatgen103's packing: two entries in three bytes, the odd one in the high nibbles
    (F0 FF FF: media byte and end-of-chain, as mkfs.fat starts a FAT12)."""
    values = array("H", [0xFF0, 0xFFF, 0x003, 0x004, 0xABC])
    raw = bytes.fromhex("f0ffff034000bc0a")
    assert bytes(encode_fat12(values)) == raw[:8]
    assert decode_fat12(raw, 5) == values
    assert decode_fat12(raw[:7], 5)[:4] == values[:4]  # a short table reads as zero-padded
    for n in range(6):
        assert decode_fat12(bytes(encode_fat12(values[:n])), n) == values[:n]


@given(st.lists(st.integers(0, 0xFFF), min_size=2, max_size=300))
def test_fat12_packing_round_trip(values):
    arr = array("H", values)
    assert decode_fat12(bytes(encode_fat12(arr)) + b"\x00", len(values)) == arr


def _table(clusters=1000, bits=16):
    layout = choose_layout({12: 2, 16: 64, 32: 600}[bits] * MiB, 512, bits, None)
    raw = bytes(layout.fat_sectors * 512)
    return FatTable(layout, raw)


@pytest.mark.parametrize("bits", [12, 16, 32])
def test_allocation_prefers_contiguous_runs(bits):
    fat = _table(bits=bits)
    a = fat.allocate(10)
    assert a == list(range(2, 12))
    b = fat.allocate(5)
    for c in a[2:6]:
        fat.set(c, 0)  # a 4-cluster hole
    c = fat.allocate(8)  # does not fit the hole: one contiguous run elsewhere
    assert c == list(range(c[0], c[0] + 8)) and c[0] > b[-1]
    d = fat.allocate(4, near=1)
    assert d == a[2:6]
    assert fat.chain(c[0]) == c
    total = fat.free_count
    with pytest.raises(NoSpace):
        fat.allocate(total + 1)
    frag = fat.allocate(total)  # takes every remaining run, linked in order
    assert len(frag) == total and fat.free_count == 0 and fat.chain(frag[0]) == frag


def test_fat32_keeps_reserved_high_bits():
    fat = _table(bits=32)
    fat.values[5] = 0xA0000000
    fat.set(5, 0x0FFFFFFF)
    assert fat.values[5] == 0xAFFFFFFF and fat.get(5) == 0x0FFFFFFF


def test_boot_sector_round_trip_and_validation():
    layout = choose_layout(600 * MiB, 512, None, None, hidden_sectors=2048)
    layout.volume_id, layout.label = 0x12345678, b"ROUNDTRIP  "
    sector = build_boot_sector(layout)
    back = parse_boot_sector(sector)
    assert back == layout and back.fat_type == 32 and back.serial == 0x12345678
    broken = bytearray(sector)
    broken[13] = 3  # sectors per cluster not a power of two
    with pytest.raises(Exception, match="sectors per cluster"):
        parse_boot_sector(bytes(broken))


@given(st.integers(315532800, 4354819198))
def test_timestamps_round_trip_to_two_seconds(ts):
    date, tm, _ = fat_datetime(ts)
    assert from_fat_datetime(date, tm) == ts - ts % 2


@settings(max_examples=200)
@given(st.binary(min_size=0, max_size=32 * 40))
def test_directory_parser_accepts_any_bytes(data):
    listing = parse_directory(data)
    assert listing.end <= len(data) // 32


@given(st.lists(st.integers(0, 0xFFF), min_size=3, max_size=2000), st.data())
def test_fat12_partial_encoding_matches_whole(values, data):
    fat = _table(bits=12)
    n = min(len(values), fat.entries)
    fat.values[:n] = array("H", values[:n])
    whole = bytes(encode_fat12(fat.values))
    lo = data.draw(st.integers(0, len(whole) - 1))
    hi = data.draw(st.integers(lo + 1, len(whole)))
    assert fat.to_bytes(lo, hi) == whole[lo:hi]


@settings(max_examples=300)
@given(st.binary(min_size=512, max_size=512), st.sampled_from([0, 1, 2]))
def test_boot_sector_parser_on_any_bytes(noise, kind):
    """Any sector (random, or a valid one with random fields) is refused or gives a layout
    whose geometry holds together, and that builds back to the same fields."""
    sector = bytearray(noise)
    if kind:  # a real boot sector with some fields overwritten by noise
        base = build_boot_sector(choose_layout((600 if kind == 2 else 20) * MiB, 512, None, None))
        sector = bytearray(base)
        sector[11:11 + noise[0] % 80] = noise[1:1 + noise[0] % 80]
        sector[510:512] = b"\x55\xaa"
    try:
        layout = parse_boot_sector(bytes(sector))
    except CorruptImage:
        return
    assert 0 < layout.first_data_sector < layout.total_sectors
    assert layout.cluster_count >= 1 and layout.fat_type in (12, 16, 32)
    assert layout.fat_sectors * layout.sector_size * 8 >= (layout.cluster_count + 2) * layout.fat_type
    assert parse_boot_sector(build_boot_sector(layout)).fields() == layout.fields()
