"""Hostile NTFS volumes: the NTFS fuzz template (made by mkntfs + wimapply), damaged on purpose.

Records are edited through their update sequence (undo the fixups, change, redo), so each
variant hits the structure it names rather than tripping the fixup check first; the
``torn`` variant is the one that breaks fixups on purpose.
"""

from __future__ import annotations

import re
import struct

from benchmarks.fuzz_targets import template


def ntfs_base() -> bytearray:
    """The fuzz template (benchmarks/fuzz.py make_ntfs_template: mkntfs + wimapply + ntfs-3g):
    8 MiB, 4 KiB clusters, root files, a non-resident ``big.bin``, ``Sub`` with 60 entries
    (an index block), ``ab``/``axb``/``a_b`` to rename."""
    return bytearray(template("ntfs"))


class Layout:
    """Where the template's structures are (found with plain struct, not with diskkit)."""

    def __init__(self, img: bytes):
        self.sector = struct.unpack_from("<H", img, 11)[0]
        self.cluster = self.sector * img[13]
        self.total_sectors, self.mft_lcn, self.mirr_lcn = struct.unpack_from("<QQQ", img, 0x28)
        self.record = 1 << -struct.unpack_from("<b", img, 0x40)[0]
        self.mft = self.mft_lcn * self.cluster

    def record_offset(self, n: int) -> int:
        return self.mft + n * self.record

    def find_record(self, img: bytes, name: str) -> int:
        """Record number of the (first) file with this name (searched as UTF-16 in the MFT)."""
        needle = name.encode("utf-16-le")
        for n in range(16, 200):
            off = self.record_offset(n)
            if img[off:off + 4] != b"FILE":
                continue
            rec = unfixed(img, off, self.record)
            for type_, a, _ in attributes(rec):
                if type_ == 0x30:
                    value_off = a + struct.unpack_from("<H", rec, a + 20)[0]
                    length = rec[value_off + 64]
                    if rec[value_off + 66:value_off + 66 + 2 * length] == needle:
                        return n
        raise LookupError(name)

    def find_index_block(self, img: bytes, name: str) -> int:
        """Offset of the INDX block holding ``name``."""
        needle = name.encode("utf-16-le")
        pos = 0
        while True:
            pos = img.find(b"INDX", pos + 1)
            if pos < 0:
                raise LookupError(name)
            if pos % self.cluster == 0 and needle in img[pos:pos + 4096]:
                return pos


def unfixed(img: bytes, off: int, size: int) -> bytearray:
    """A record (or index block) with its update sequence undone."""
    buf = bytearray(img[off:off + size])
    usa, count = struct.unpack_from("<HH", buf, 4)
    for i in range(1, count):
        end = i * 512
        buf[end - 2:end] = buf[usa + 2 * i:usa + 2 * i + 2]
    return buf


def refix(img: bytearray, off: int, buf: bytearray) -> None:
    """Write ``buf`` back at ``off`` with the update sequence applied again."""
    usa, count = struct.unpack_from("<HH", buf, 4)
    usn = buf[usa:usa + 2]
    for i in range(1, count):
        end = i * 512
        buf[usa + 2 * i:usa + 2 * i + 2] = buf[end - 2:end]
        buf[end - 2:end] = usn
    img[off:off + len(buf)] = buf


def attributes(rec: bytes):
    """``(type, offset, length)`` of each attribute in a fixed-up record."""
    off = struct.unpack_from("<H", rec, 20)[0]
    while off + 8 <= len(rec):
        type_, length = struct.unpack_from("<II", rec, off)
        if type_ == 0xFFFFFFFF or length == 0:
            return
        yield type_, off, length
        off += length


def edit_record(img: bytearray, lay: Layout, n: int, change) -> None:
    off = lay.record_offset(n)
    rec = unfixed(img, off, lay.record)
    change(rec)
    refix(img, off, rec)


def edit_index_block(img: bytearray, off: int, change) -> None:
    block = unfixed(img, off, 4096)
    change(block)
    refix(img, off, block)


def rename(img: bytearray, lay: Layout, old: str, new: str) -> None:
    """Same-length rename in the file's $FILE_NAME and in its directory's index key."""
    a, b = old.encode("utf-16-le"), new.encode("utf-16-le")
    # a $FILE_NAME's name follows its length in characters and a namespace byte (0..3)
    pattern = re.compile(re.escape(bytes([len(old)])) + b"[\x00-\x03]" + re.escape(a))

    def swap(buf: bytearray) -> None:
        for m in list(pattern.finditer(bytes(buf))):
            buf[m.end() - len(a):m.end()] = b

    for n in range(200):
        if img[lay.record_offset(n):lay.record_offset(n) + 4] == b"FILE":
            edit_record(img, lay, n, swap)
    for pos in range(0, len(img), lay.cluster):
        if img[pos:pos + 4] == b"INDX":
            edit_index_block(img, pos, swap)


def ntfs_variants(make) -> list:
    """Damaged copies of the template; ``make(name, kind, data, corrupt)`` builds a Hostile."""
    base = ntfs_base()
    lay = Layout(base)
    out = [make("ntfs-clean-control", "ntfs", bytes(base), False)]

    def variant(name, change, corrupt=True):
        img = bytearray(base)
        change(img)
        out.append(make(f"ntfs-{name}", "ntfs", bytes(img), corrupt))

    big = lay.find_record(base, "big.bin")
    readme = lay.find_record(base, "README.TXT")
    sub_block = lay.find_index_block(base, "inner.txt")

    def boot(fmt, off, value):
        return lambda img: struct.pack_into(fmt, img, off, value)

    variant("boot-bad-sectors-per-cluster", boot("<B", 13, 3))
    variant("boot-bad-record-size", boot("<b", 0x40, -40))
    variant("boot-mft-outside-volume", boot("<Q", 0x30, 1 << 40))
    variant("volume-larger-than-partition", boot("<Q", 0x28, lay.total_sectors * 4))
    variant("backup-boot-sector-missing",
            lambda img: img.__setitem__(slice(lay.total_sectors * 512, lay.total_sectors * 512 + 512),
                                        bytes(512)))

    def torn(img):  # the MFT's own record: sector 1 no longer ends with the sequence number
        img[lay.record_offset(0) + 1022] ^= 0xFF
    variant("mft-torn-write", torn)

    def mirror_differs(img):
        def change(rec):
            rec[0x38 + 30] ^= 0x55  # inside $MFT's first attribute
        edit_record(img, lay, 0, change)  # the mirror keeps the old bytes
    variant("mftmirr-differs", mirror_differs)

    def attr_length(value):
        def change(rec):
            _, a, _ = next(attributes(rec))
            struct.pack_into("<I", rec, a + 4, value)
        return lambda img: edit_record(img, lay, readme, change)
    variant("attribute-length-zero", attr_length(0))
    variant("attribute-length-huge", attr_length(0x7FFFFFF8))

    def big_runs(change_runs):
        def change(rec):
            for type_, a, _ in attributes(rec):
                if type_ == 0x80 and rec[a + 8]:
                    runs = a + struct.unpack_from("<H", rec, a + 32)[0]
                    change_runs(rec, runs)
        return lambda img: edit_record(img, lay, big, change)

    def lcn_far(rec, runs):  # the first run's LCN moves past the volume's end
        header = rec[runs]
        lsize, osize = header & 15, header >> 4
        rec[runs + 1 + lsize:runs + 1 + lsize + osize] = (1 << (8 * osize - 2)).to_bytes(osize, "little")

    def lcn_on_mft(rec, runs):  # the file's data now sits on the MFT: cross-linked
        header = rec[runs]
        lsize, osize = header & 15, header >> 4
        rec[runs + 1 + lsize:runs + 1 + lsize + osize] = lay.mft_lcn.to_bytes(osize, "little")

    def no_terminator(rec, runs):
        rec[runs:runs + 64] = b"\x11\x01\x01" * 21 + b"\x11"

    def zero_length(rec, runs):
        rec[runs] = 0x11
        rec[runs + 1] = 0
    variant("runlist-outside-volume", big_runs(lcn_far))
    variant("runlist-cross-linked-with-mft", big_runs(lcn_on_mft))
    variant("runlist-no-terminator", big_runs(no_terminator))
    variant("runlist-zero-length-run", big_runs(zero_length))

    def index_edit(change):
        return lambda img: edit_index_block(img, sub_block, change)

    def index_loop(block):  # the block's last entry points back at the block itself
        hdr = 0x18
        entries, length = struct.unpack_from("<II", block, hdr)
        pos = hdr + entries
        while not struct.unpack_from("<H", block, pos + 12)[0] & 2:
            pos += struct.unpack_from("<H", block, pos + 8)[0]
        struct.pack_into("<QHHH", block, pos, 0, 24, 0, 3)
        struct.pack_into("<q", block, pos + 16, 0)
        struct.pack_into("<I", block, hdr + 4, pos + 24 - hdr)
        block[hdr + 12] |= 1

    def index_bad_length(block):
        hdr = 0x18
        pos = hdr + struct.unpack_from("<I", block, hdr)[0]
        struct.pack_into("<H", block, pos + 8, 7)

    def index_to_parent(block):  # inner.txt's entry now names the root directory
        key = "inner.txt".encode("utf-16-le")
        at = bytes(block).find(key) - 0x52
        struct.pack_into("<Q", block, at, 5 | (5 << 48))
    variant("index-loop", index_edit(index_loop))
    variant("index-entry-bad-length", index_edit(index_bad_length))
    variant("index-contains-itself", index_edit(index_to_parent))

    out.append(make("ntfs-truncated-in-mft", "ntfs", bytes(base[:lay.mft + 3 * lay.record]), True))
    out.append(make("ntfs-truncated-half", "ntfs", bytes(base[:len(base) // 2]), True))

    for label, new, corrupt in (("name-dotdot", "..", True), ("name-slash", "a/b", True),
                                ("name-control-chars", "a\x01b", False)):
        old = {"..": "ab", "a/b": "axb", "a\x01b": "a_b"}[new]
        variant(label, lambda img, old=old, new=new: rename(img, lay, old, new), corrupt)
    return out
