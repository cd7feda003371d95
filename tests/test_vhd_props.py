"""Property tests: structures round-trip, random writes match a bytearray model, bad bytes fail cleanly."""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from diskkit import testing, vhd
from diskkit.errors import DiskkitError
from diskkit.image import open_image
from diskkit.vhd import dynamic as dyn
from diskkit.vhd.footer import Footer, build_footer, chs_geometry, parse_footer

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)

footers = st.builds(
    Footer, current_size=u64, disk_type=u32, original_size=u64, features=u32,
    format_version=u32, data_offset=u64, timestamp=u32, creator_app=st.binary(min_size=4, max_size=4),
    creator_version=u32, creator_host_os=st.binary(min_size=4, max_size=4), cylinders=u16,
    heads=u8, sectors_per_track=u8, unique_id=st.binary(min_size=16, max_size=16),
    saved_state=u8, reserved=st.binary(min_size=427, max_size=427))

locators = st.builds(dyn.ParentLocator, platform_code=st.binary(min_size=4, max_size=4),
                     data_space=u32, data_length=u32, reserved=u32, data_offset=u64)
headers = st.builds(
    dyn.DynamicHeader, table_offset=u64, max_table_entries=u32,
    block_size=st.integers(9, 31).map(lambda e: 1 << e), data_offset=u64, header_version=u32,
    parent_unique_id=st.binary(min_size=16, max_size=16), parent_timestamp=u32, reserved1=u32,
    parent_unicode_name=st.binary(min_size=512, max_size=512),
    parent_locators=st.lists(locators, min_size=8, max_size=8).map(tuple),
    reserved2=st.binary(min_size=256, max_size=256))


def _without_checksum(obj):
    return obj.replace(checksum=0)


@given(footers)
def test_footer_roundtrip(footer):
    raw = build_footer(footer)
    assert len(raw) == 512
    assert _without_checksum(parse_footer(raw)) == _without_checksum(footer)
    assert build_footer(parse_footer(raw)) == raw


@given(headers)
def test_header_roundtrip(header):
    raw = dyn.build_header(header)
    assert len(raw) == 1024
    assert _without_checksum(dyn.parse_header(raw)) == _without_checksum(header)


@given(footers, st.integers(0, 511), st.integers(1, 255))
def test_any_flipped_footer_byte_is_caught(footer, pos, flip):
    raw = bytearray(build_footer(footer))
    raw[pos] ^= flip
    try:
        parsed = parse_footer(bytes(raw))
    except DiskkitError:
        return
    raise AssertionError(f"corruption at {pos} parsed as {parsed}")


@given(st.integers(1, 65535 * 16 * 255 + 1000))
def test_chs_never_exceeds_size(sectors):
    c, h, s = chs_geometry(sectors * 512)
    assert c * h * s <= sectors and c <= 65535 and h <= 16 and s <= 255


_settings = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(container=testing.containers(["fixed", "dynamic"], max_size=3000 * 512),
       writes=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 40000), st.integers(0, 255)),
                       max_size=12))
def test_random_writes_roundtrip(container, writes):
    size = container.size
    model = bytearray(size)
    with tempfile.TemporaryDirectory() as tmp:
        path = testing.make(container, os.path.join(tmp, "p.vhd")).path
        with open_image(path, writable=True) as dev:
            for where, length, byte in writes:
                length = min(length, size)
                off = int(where * (size - length))
                dev.write_at(off, bytes([byte]) * length)
                model[off:off + length] = bytes([byte]) * length
        with open_image(path) as dev:
            assert dev.size == size
            assert dev.read_at(0, size) == bytes(model)
            for start, length in dev.allocated_ranges():
                assert 0 <= start and start + length <= size
        assert vhd.check(path).clean


@_settings
@given(cut=st.integers(1, 40000), kind=st.sampled_from(["fixed", "dynamic"]))
def test_truncated_or_damaged_images_fail_cleanly(cut, kind):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.vhd")
        vhd.create(path, 64 * 1024, kind, block_size=4096)
        with open_image(path, writable=True) as dev:
            dev.write_at(0, os.urandom(64 * 1024))
        size = os.path.getsize(path)
        with open(path, "r+b") as fh:
            fh.truncate(max(size - cut, 0))
        try:
            with open_image(path) as dev:
                dev.read_at(0, dev.size)
        except DiskkitError:
            pass
        vhd.check(path)  # a report, never an exception


@_settings
@given(pos=st.integers(0, 8191), flip=st.integers(1, 255))
def test_flipped_metadata_byte_never_crashes(pos, flip):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f.vhd")
        vhd.create(path, 64 * 1024, "dynamic", block_size=4096)
        with open_image(path, writable=True) as dev:
            dev.write_at(0, os.urandom(20000))
        with open(path, "r+b") as fh:
            fh.seek(pos)
            byte = fh.read(1)
            fh.seek(pos)
            fh.write(bytes([byte[0] ^ flip]) if byte else b"")
        try:
            with open_image(path) as dev:
                dev.read_at(0, dev.size)
        except DiskkitError:
            pass
        assert isinstance(vhd.check(path).clean, bool)

