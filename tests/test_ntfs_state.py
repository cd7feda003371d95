"""What the volume says about itself for whole-image operations: used and free byte ranges
(against ntfscluster), the smallest size (against ntfsresize --info), and why a volume is not
clean (dirty flag, a $LogFile with pending transactions, a hibernated Windows)."""

from __future__ import annotations

import re
import struct

import pytest

from diskkit.blockdev import FileDevice, MemoryDevice
from diskkit.ntfs import NtfsVolume
from support import run
from support.ntfs import apply_tree, make_tree, mkntfs
from support.ntfs_hostile import Layout, attributes, edit_record, ntfs_base

MiB = 1 << 20


@pytest.fixture(scope="module")
def volume_image(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ntfs-state")
    make_tree(str(tmp / "src"), seed=7, files=120, depth=4)
    image = mkntfs(str(tmp / "v.img"), 48 * MiB, cluster=2048)
    apply_tree(image, str(tmp / "src"))
    return image


def test_used_and_free_ranges_cover_the_volume(volume_image):
    vol = NtfsVolume(FileDevice(volume_image))
    g = vol.geometry
    used, free = list(vol.used_ranges()), list(vol.free_ranges())
    spans = sorted(used + free)
    pos = 0
    for start, length in spans:  # disjoint, in order, no gaps
        assert start == pos
        pos += length
    assert pos == g.size + g.sector_size
    assert sum(n for _, n in free) == vol.info()["free_bytes"]


def test_free_ranges_hold_no_file_per_ntfscluster(volume_image):
    vol = NtfsVolume(FileDevice(volume_image))
    cs = vol.geometry.cluster_size
    for start, length in list(vol.free_ranges())[:8]:
        first, last = start // cs, (start + length) // cs - 1
        out = run("ntfscluster", "-c", f"{first}-{last}", volume_image).stdout
        assert "no inode found" in out, out[:300]
    for start, length in list(vol.used_ranges())[1:8]:  # used runs belong to files
        out = run("ntfscluster", "-c", f"{start // cs}-{start // cs}", volume_image).stdout
        assert re.search(r"^Inode \d+ ", out, re.M), out[:300]


def test_min_size_equals_ntfsresize_info(volume_image):
    vol = NtfsVolume(FileDevice(volume_image))
    out = run("ntfsresize", "--info", "--force", volume_image, check=False).stdout
    theirs = int(re.search(r"might resize at (\d+) bytes", out).group(1))
    assert vol.min_size() == theirs
    assert vol.min_size() <= vol.data_end() <= vol.geometry.size


def test_clean_volume_has_no_reason(volume_image):
    assert NtfsVolume(FileDevice(volume_image)).unclean_reason() is None


def _restart_page(in_use_list: int, flags: int, lsn: int = 1000) -> bytearray:
    """A $LogFile restart page as ntfs-3g's logfile.h lays it out (RSTR, update sequence)."""
    page = bytearray(4096)
    struct.pack_into("<4sHHQIIHhh", page, 0, b"RSTR", 0x1E, 9, 0, 4096, 4096, 0x30, 1, 1)
    struct.pack_into("<QHHHH", page, 0x30, lsn, 1, 0xFFFF, in_use_list, flags)
    usn = b"\x01\x00"
    page[0x1E:0x20] = usn
    for i in range(1, 9):
        page[0x1E + 2 * i:0x20 + 2 * i] = page[i * 512 - 2:i * 512]
        page[i * 512 - 2:i * 512] = usn
    return page


def _with_logfile(page: bytearray) -> MemoryDevice:
    base = ntfs_base()
    vol = NtfsVolume(MemoryDevice(bytes(base), writable=False))
    lcn = vol.stream(vol.inode(2)).runs.runs[0][1]
    at = lcn * vol.geometry.cluster_size
    base[at:at + 4096] = page
    base[at + 4096:at + 8192] = page
    return MemoryDevice(bytes(base), writable=False)


def test_logfile_with_an_open_client_is_unclean():
    dev = _with_logfile(_restart_page(in_use_list=0, flags=0))
    assert "$LogFile" in NtfsVolume(dev).unclean_reason()
    clean = _with_logfile(_restart_page(in_use_list=0, flags=0x0002))
    assert NtfsVolume(clean).unclean_reason() is None
    closed = _with_logfile(_restart_page(in_use_list=0xFFFF, flags=0))
    assert NtfsVolume(closed).unclean_reason() is None


def test_dirty_flag_is_a_reason():
    base = ntfs_base()
    lay = Layout(base)

    def set_dirty(rec):
        for type_, a, _ in attributes(rec):
            if type_ == 0x70:
                value = a + struct.unpack_from("<H", rec, a + 20)[0]
                rec[value + 10] |= 0x01
    edit_record(base, lay, 3, set_dirty)
    vol = NtfsVolume(MemoryDevice(bytes(base), writable=False))
    assert vol.dirty and "dirty" in vol.unclean_reason()


def test_hibernated_windows_is_a_reason(tmp_path):
    image = mkntfs(str(tmp_path / "h.img"), 16 * MiB)
    hiber = tmp_path / "hiberfil.sys"
    hiber.write_bytes(b"HIBR" + bytes(8188))
    run("ntfscp", image, str(hiber), "/hiberfil.sys")
    assert "hibernated" in NtfsVolume(FileDevice(image)).unclean_reason()
    refused = run("ntfscp", "-f", image, str(hiber), "/other", check=False)
    assert refused.returncode and "hibernated" in refused.stderr  # ntfs-3g agrees
    awake = mkntfs(str(tmp_path / "a.img"), 16 * MiB)
    hiber.write_bytes(bytes(8192))  # a hiberfil.sys after a normal boot: zeroed header
    run("ntfscp", awake, str(hiber), "/hiberfil.sys")
    assert NtfsVolume(FileDevice(awake)).unclean_reason() is None
