"""Property tests of the NTFS decoders: bitmaps, run lists, XPRESS and LZX (against wimlib's
compressors), and random bytes into every bytes-in parser (DiskkitError only)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from diskkit.errors import CorruptImage, DiskkitError
from diskkit.ntfs import bitmap, lzx, xpress
from diskkit.ntfs.runlist import RunMap, decode_runs
from diskkit.ntfs.stream import ResidentStream

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def naive_runs(bits: list[int], value: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i, b in enumerate(bits):
        if b == value:
            if out and sum(out[-1]) == i:
                out[-1] = (out[-1][0], out[-1][1] + 1)
            else:
                out.append((i, 1))
    return out


@SETTINGS
@given(st.lists(st.booleans(), min_size=1, max_size=3000), st.sampled_from([1, 2, 3, 1 << 20]),
       st.integers(0, 255))
def test_bitmap_runs_and_counts(bits, chunk, junk):
    n = len(bits)
    data = bytearray((n + 7) // 8)
    for i, b in enumerate(bits):
        data[i // 8] |= b << (i % 8)
    if n % 8:  # bits past the end must be ignored, whatever they hold
        data[-1] |= (junk << (n % 8)) & 0xFF
    old = bitmap.CHUNK
    bitmap.CHUNK = chunk
    try:
        stream = ResidentStream(bytes(data) + b"\xff")
        for value in (0, 1):
            assert list(bitmap.runs(bitmap.chunks(stream, n), n, value)) == \
                naive_runs([int(b) for b in bits], value)
        assert bitmap.count_set(bitmap.chunks(stream, n)) == sum(bits)
    finally:
        bitmap.CHUNK = old


def encode_runs(runs: list[tuple[int | None, int]]) -> bytes:
    """Mapping pairs as the NTFS documentation lays them out (an independent encoder)."""
    def signed(value: int) -> bytes:
        size = 1
        while not -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1)):
            size += 1
        return value.to_bytes(size, "little", signed=True)

    out, prev = bytearray(), 0
    for lcn, length in runs:
        n = signed(length)
        d = b"" if lcn is None else signed(lcn - prev)
        out += bytes([len(d) << 4 | len(n)]) + n + d
        if lcn is not None:
            prev = lcn
    return bytes(out + b"\0")


@SETTINGS
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 1 << 40)),
                          st.integers(1, 1 << 33)), min_size=0, max_size=40))
def test_run_list_decodes_what_the_layout_encodes(runs):
    data = encode_runs(runs)
    clusters = sum(length for _, length in runs)
    decoded = decode_runs(data, 0, clusters - 1, 1 << 50, "test")
    vcn, expect = 0, []
    for lcn, length in runs:
        expect.append((vcn, lcn, length))
        vcn += length
    assert decoded == expect
    runmap = RunMap(decoded, "test")
    assert runmap.clusters == clusters
    if clusters:
        pieces = list(runmap.pieces(0, clusters))
        assert sum(n for _, n in pieces) == clusters


def test_run_list_bounds():
    with pytest.raises(CorruptImage, match="outside"):
        decode_runs(encode_runs([(100, 10)]), 0, 9, 105, "t")
    with pytest.raises(CorruptImage, match="maps VCNs"):
        decode_runs(encode_runs([(1, 10)]), 0, 20, 100, "t")
    with pytest.raises(CorruptImage, match="no end marker"):
        decode_runs(encode_runs([(1, 10)])[:-1], 0, 9, 100, "t")
    with pytest.raises(CorruptImage, match="not mapped"):
        list(RunMap([(0, 5, 3)], "t").pieces(2, 5))


@SETTINGS
@given(st.lists(st.one_of(st.binary(min_size=1, max_size=40),
                          st.sampled_from([b"abc" * 30, b"\0" * 300, b"The quick brown fox "])),
                max_size=200),
       st.sampled_from([4096, 8192, 16384]))
def test_xpress_decodes_wimlibs_output(pieces, chunk):
    from benchmarks.ntfscraft import Unavailable, wof_pack

    data = b"".join(pieces)[:chunk] or b"x"
    name = {4096: "XPRESS4K", 8192: "XPRESS8K", 16384: "XPRESS16K"}[chunk]
    try:
        packed = wof_pack(data, name)  # one chunk: no offset table in front
    except Unavailable as exc:
        pytest.skip(str(exc))
    if len(packed) < len(data):
        assert xpress.decompress(packed, len(data)) == data


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(st.binary(min_size=1, max_size=40),
                          st.sampled_from([b"\xe8\x10\x00\x00\x00call", b"\0" * 500,
                                           b"The quick brown fox ", bytes(range(256))])),
                max_size=600))
def test_lzx_decodes_wimlibs_output(pieces):
    from benchmarks.ntfscraft import Unavailable, wof_pack

    data = b"".join(pieces)[:lzx.CHUNK] or b"x"
    try:
        packed = wof_pack(data, "LZX")  # one chunk: no offset table in front
    except Unavailable as exc:
        pytest.skip(str(exc))
    if len(packed) < len(data):
        assert lzx.decompress(packed, len(data)) == data


@SETTINGS
@given(st.binary(max_size=5000))
def test_random_bytes_into_decoders(data):
    from benchmarks.fuzz_targets import ntfs_codecs

    ntfs_codecs(data)  # each decoder may raise only DiskkitError, which the target absorbs


def test_decoders_refuse_with_corrupt_image():
    from diskkit.ntfs import lznt1

    for bad in (b"\x05\xb0\x01\x00", b"\xff\xbf" + b"\x01" * 20):
        with pytest.raises(DiskkitError):
            lznt1.decompress(bad, 4096)
    with pytest.raises(DiskkitError):
        xpress.decompress(b"\x11" * 300, 1000)


@SETTINGS
@given(st.integers(0, 63), st.one_of(st.integers(0, 1023), st.sampled_from([0, 3, 4, 6, 48, 50, 510, 1023])),
       st.integers(0, 255), st.sampled_from([1024, 4096]))
def test_page_fixups_equal_record_fixups(victim, at, value, size):
    """fix_up_records on a page of records (mkntfs + wimapply's MFT, or 4 KiB records made
    from it) gives each record's apply_fixups result, or declines with the page unchanged
    when one record differs or is torn; then that record's own fixups say why."""
    from diskkit.ntfs.record import apply_fixups, fix_up_records
    from support.ntfs_hostile import Layout, ntfs_base, refix, unfixed

    base = ntfs_base()
    lay = Layout(base)
    records = [unfixed(base, lay.record_offset(n), lay.record) for n in range(64)]
    records = [r for r in records if r[:4] == b"FILE"][:16]
    if size == 4096:  # the same records as a 4Kn drive would hold them: 8 fixed-up sectors
        records = [r + bytes(3072) for r in records]
        for r in records:
            r[4:8] = (48).to_bytes(2, "little") + (9).to_bytes(2, "little")
    page = bytearray()
    for r in records:
        page += r
        refix(page, len(page) - size, bytearray(r))
    page[(victim % len(records)) * size + at] = value  # perhaps torn, perhaps another magic
    expected = []
    for i in range(len(records)):
        one = bytearray(page[i * size:(i + 1) * size])
        try:
            apply_fixups(one, b"FILE", "record")
        except CorruptImage:
            one = None
        expected.append(one)
    before = bytes(page)
    if fix_up_records(page, size, b"FILE"):
        assert [page[i * size:(i + 1) * size] for i in range(len(records))] == expected
    else:
        assert bytes(page) == before
        uniform = len({bytes(page[i * size:i * size + 8]) for i in range(len(records))}) == 1
        assert None in expected or not uniform
