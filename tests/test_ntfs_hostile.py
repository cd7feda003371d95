"""Hostile NTFS volumes beyond the shared hostile suite: extraction of hostile names stays
inside its destination, attribute lists that point at other files' records, a torn MFT
record 0 read through $MFTMirr."""

from __future__ import annotations

import os
import struct

import pytest

from diskkit.blockdev import MemoryDevice
from diskkit.errors import CorruptImage
from diskkit.ntfs import NtfsVolume, check
from support import diskkit
from support.ntfs_hostile import Layout, edit_record, ntfs_base, ntfs_variants, unfixed


class Made:
    def __init__(self, name, kind, data, corrupt):
        self.name, self.data, self.corrupt = name, data, corrupt


@pytest.fixture(scope="module")
def variants():
    return {v.name: v for v in ntfs_variants(Made)}


def write(tmp_path, v) -> str:
    path = tmp_path / f"{v.name}.img"
    path.write_bytes(v.data)
    return str(path)


@pytest.mark.parametrize("name", ["ntfs-name-dotdot", "ntfs-name-slash", "ntfs-name-control-chars"])
def test_get_refuses_hostile_names_and_stays_inside(variants, tmp_path, name):
    image = write(tmp_path, variants[name])
    dest = tmp_path / "dest"
    dest.mkdir()
    before = set(os.listdir(tmp_path))
    proc = diskkit("ntfs", "get", "-r", image, "/", str(dest), check=False)
    assert proc.returncode == 2 and "unsafe name" in proc.stderr, proc.stderr
    assert set(os.listdir(tmp_path)) == before  # nothing written beside dest
    for root, dirs, files in os.walk(dest):
        for item in dirs + files:
            assert os.path.realpath(os.path.join(root, item)).startswith(str(dest))


def test_attribute_list_naming_another_files_record():
    """The template's 'holes' file has an attribute list; point one entry at README.TXT."""
    base = ntfs_base()
    lay = Layout(base)
    vol = NtfsVolume(MemoryDevice(bytes(base), writable=False))
    holes = vol.inode(vol.stat("/holes").mft_ref)
    if len({a.record for a in holes.attributes}) < 2:
        pytest.skip("template made without FUSE: no attribute list")
    extension = max(a.record for a in holes.attributes)
    readme = vol.stat("/README.TXT").mft_ref

    def foreign(rec):  # the extension record now claims to belong to README.TXT
        struct.pack_into("<Q", rec, 0x20, readme | (1 << 48))
    edit_record(base, lay, extension, foreign)
    dev = MemoryDevice(bytes(base), writable=False)
    with pytest.raises(CorruptImage, match="does not belong to this file"):
        NtfsVolume(dev).read_file("/holes")
    assert not check(dev).clean


def test_torn_mft_record_zero_reads_through_the_mirror(variants):
    v = variants["ntfs-mft-torn-write"]
    dev = MemoryDevice(v.data, writable=False)
    vol = NtfsVolume(dev)
    assert vol.mft_from_mirror
    assert vol.read_file("/README.TXT") == b"hello from the fuzz template\n"
    report = check(dev)
    assert any("$MFTMirr" in p.message for p in report.errors)


def test_records_are_edited_through_their_fixups():
    """The helpers keep the update sequence valid (else every variant would be 'torn')."""
    base = ntfs_base()
    lay = Layout(base)
    before = unfixed(base, lay.record_offset(0), lay.record)
    edit_record(base, lay, 0, lambda rec: None)
    assert unfixed(base, lay.record_offset(0), lay.record) == before
    assert check(MemoryDevice(bytes(base), writable=False)).clean
