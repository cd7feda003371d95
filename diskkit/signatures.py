"""What is this? Bytes in, a name out, as blkid and qemu-img decide it.

Three questions, each answered from on-disk magic numbers alone (no parsing beyond what
naming needs):

- ``container(head)``: a virtual-disk format diskkit does not read as a disk (VHDX, qcow,
  VMDK, VDI, ...), from a file's first bytes. VHD is found by ``diskkit.vhd.probe`` (its
  footer is at the end; ``may_be_vhd`` says whether to look); ISO 9660 is a filesystem
  (``filesystem``) that ``diskkit.image`` also refuses as a disk.
- ``boot_record(sector)``: the filesystem whose volume boot record this sector is, if it is
  one (an MBR is not); part/mbr uses it to tell a whole-disk filesystem from a table.
- ``filesystem(read, size)``: the filesystem (or other content blkid names: swap, LUKS,
  RAID members) at the start of a volume, with label and UUID where it has them.
"""

from __future__ import annotations

from collections.abc import Callable

from .guid import uuid_text

KiB = 1024

# -- containers ---------------------------------------------------------------------------

# (magic, offset, name); the name keys diskkit.image's registry of containers
_CONTAINER_MAGIC = [
    (b"vhdxfile", 0, "vhdx"),
    (b"KDMV", 0, "vmdk"),  # sparse extent (monolithicSparse, streamOptimized)
    (b"COWD", 0, "vmdk"),  # ESX sparse extent
    (b"\x7f\x10\xda\xbe", 0x40, "vdi"),
    (b"QED\0", 0, "qed"),
    (b"WithoutFreeSpace", 0, "parallels"),
    (b"WithouFreSpacExt", 0, "parallels"),
]
CONTAINER_HEAD = 0x44  # bytes of a file ``container`` needs (at most)
CONTAINER_NAMES = {"vhdx": "VHDX", "qcow": "qcow (version 1)", "qcow2": "qcow2", "vmdk":
                   "VMDK", "vmdk-descriptor": "VMDK descriptor", "vdi": "VirtualBox VDI",
                   "qed": "QED", "parallels": "Parallels"}


VHD_COOKIE = b"conectix"  # the first bytes of a VHD footer


def may_be_vhd(head: bytes, tail: bytes) -> bool:
    """Whether a file with these first bytes and last 512 can be a VHD: a footer at the end
    (512 bytes, or 511 from old Virtual PC) or a dynamic VHD's copy at 0 starts with the
    cookie. A raw image is opened without loading diskkit.vhd."""
    return VHD_COOKIE in (head[:8], tail[:8], tail[1:9])


def container(head: bytes) -> str | None:
    """The virtual-disk format of a file starting with ``head``, or None (raw or VHD)."""
    if head[:4] == b"QFI\xfb":
        return "qcow" if int.from_bytes(head[4:8], "big") == 1 else "qcow2"
    for magic, offset, name in _CONTAINER_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return name
    if head.lstrip()[:21] == b"# Disk DescriptorFile" or head[:19] == b"# Disk Descriptor":
        return "vmdk-descriptor"
    return None


# -- volume boot records ------------------------------------------------------------------

_OEM_IDS = {b"NTFS    ": "ntfs", b"EXFAT   ": "exfat", b"-FVE-FS-": "BitLocker",
            b"ReFS\0\0\0\0": "ReFS"}
# OS/2 and DFSee write a FAT-like pseudo BPB naming the real filesystem at 0x36 (blkid's rule)
_PSEUDO_BPB = {b"HPFS    ": "hpfs", b"JFS     ": "jfs"}


def looks_like_fat(boot: bytes) -> bool:
    """A FAT boot sector as blkid judges one (``fat_valid_superblock``): jump, 0x55AA, a
    sector size of 512-4096, a power-of-two cluster, reserved sectors, 1-4 FATs, a valid
    media byte, a cluster count its FAT type can address, and no OS/2 pseudo BPB."""
    if len(boot) < 512 or boot[510:512] != b"\x55\xaa" or boot[0] not in (0xEB, 0xE9):
        return False
    per_sector = int.from_bytes(boot[11:13], "little")
    per_cluster, reserved, fats, media = boot[13], int.from_bytes(boot[14:16], "little"), \
        boot[16], boot[21]
    if not (per_sector in (512, 1024, 2048, 4096) and per_cluster != 0
            and per_cluster & (per_cluster - 1) == 0 and reserved and 1 <= fats <= 4
            and (media == 0xF0 or media >= 0xF8)) or bytes(boot[0x36:0x3E]) in _PSEUDO_BPB:
        return False
    fat16_length, fat32_length = _le(boot[22:24]), _le(boot[36:40])
    total = _le(boot[19:21]) or _le(boot[32:36])
    root_sectors = -(-_le(boot[17:19]) * 32 // per_sector)
    clusters = (total - reserved - (fat16_length or fat32_length) * fats - root_sectors) \
        // per_cluster
    if not fat16_length and fat32_length:
        return clusters <= 0x0FFFFFF6
    return clusters <= (0xFFF4 if clusters > 0xFF4 else 0xFF4)


def boot_record(sector: bytes) -> str | None:
    """``ntfs``, ``exfat``, ``BitLocker``, ``ReFS``, ``hpfs``, ``jfs`` or ``fat`` when
    ``sector`` is that filesystem's boot sector, else None."""
    if len(sector) < 512:
        return None
    oem = _OEM_IDS.get(bytes(sector[3:11])) or _PSEUDO_BPB.get(bytes(sector[0x36:0x3E]))
    if oem:
        return oem
    if looks_like_fat(sector):
        return "fat"
    return None


# -- filesystems --------------------------------------------------------------------------

Reader = Callable[[int, int], bytes]
HEAD = 68 * KiB  # every superblock below except ISO 9660/UDF (read on demand) lies in it


def _text(raw: bytes, encoding: str = "utf-8") -> str:
    """A NUL-terminated, space-padded label as blkid shows it (trailing blanks dropped)."""
    return bytes(raw).split(b"\0", 1)[0].decode(encoding, "replace").rstrip()


def _le(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _be(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


_uuid = uuid_text


def _found(kind: str, label: str | None = None, uuid: str | None = None, **more) -> dict:
    out = {"type": kind}
    if label:
        out["label"] = label
    if uuid:
        out["uuid"] = uuid
    out.update(more)
    return out


class _Volume:
    """Reads of one volume, the first ``HEAD`` bytes read once."""

    def __init__(self, read: Reader, size: int):
        self.read_at, self.size = read, size
        self.head = read(0, min(size, HEAD))

    def read(self, offset: int, length: int) -> bytes:
        if offset + length <= len(self.head):
            return self.head[offset:offset + length]
        if offset < 0 or offset + length > self.size:
            return b""
        return self.read_at(offset, length)


# Each probe returns a description or None; ``filesystem`` tries them in blkid's order.

def _mdraid(v: _Volume) -> dict | None:
    """Linux MD RAID member: v1.1 at 0, v1.2 at 4 KiB, v1.0 8 KiB before the end, v0.90 in
    the last 64 KiB."""
    for at in (0, 4096, (v.size & ~4095) - 8192):
        sb = v.read(at, 256) if at >= 0 else b""
        if len(sb) == 256 and _le(sb[0:4]) == 0xA92B4EFC and _le(sb[4:8]) == 1:
            return _found("linux_raid_member", _text(sb[32:64]), _uuid(sb[16:32]))
    at = (v.size & ~0xFFFF) - 0x10000
    sb = v.read(at, 64) if at >= 0 else b""
    if len(sb) == 64 and _le(sb[0:4]) == 0xA92B4EFC and _le(sb[4:8]) == 0:
        words = [sb[20:24], sb[52:56], sb[56:60], sb[60:64]]  # host-endian u32s, shown as numbers
        return _found("linux_raid_member", uuid=_uuid(b"".join(w[::-1] for w in words)))
    return None


def _lvm2(v: _Volume) -> dict | None:
    for sector in range(4):
        label = v.read(sector * 512, 512)
        if label[:8] == b"LABELONE" and label[24:32] == b"LVM2 001":
            pv = v.read(sector * 512 + _le(label[20:24]), 32)
            raw = pv.decode("ascii", "replace")
            return _found("LVM2_member", uuid="-".join(
                raw[a:b] for a, b in ((0, 6), (6, 10), (10, 14), (14, 18), (18, 22), (22, 26),
                                      (26, 32))))
    return None


def _luks(v: _Volume) -> dict | None:
    """LUKS1/2; a LUKS2 volume whose first header is wiped is found by its second one."""
    h = v.head
    if h[:6] != b"LUKS\xba\xbe":
        h = next((v.read(at, 512) for at in (16 << n for n in range(10, 19))
                  if v.read(at, 8) == b"SKUL\xba\xbe\x00\x02"), None)
        if h is None:
            return None
    version = _be(h[6:8])
    label = _text(h[24:72]) if version == 2 else None
    return _found("crypto_LUKS", label, _text(h[168:208]), version=str(version))


def _bitlocker(v: _Volume) -> dict | None:
    if v.head[:11] in (b"\xeb\x52\x90-FVE-FS-", b"\xeb\x58\x90-FVE-FS-"):
        return _found("BitLocker")
    return None


def _hpfs(v: _Volume) -> dict | None:
    sb, spare = v.read(8192, 64), v.read(8704, 64)
    if sb[:4] != b"\x49\xe8\x95\xf9" or spare[:4] != b"\x49\x18\x91\xf9":
        return None
    boot = v.head
    serial = _le(boot[39:43])
    return _found("hpfs", _text(boot[43:54]), f"{serial >> 16:04X}-{serial & 0xFFFF:04X}")


def _exfat(v: _Volume) -> dict | None:
    boot = v.head
    if boot[3:11] != b"EXFAT   ":
        return None
    sector = 1 << min(max(boot[108], 9), 12)
    cluster = sector << min(boot[109], 16)
    serial = _le(boot[100:104])
    return _found("exfat", _exfat_label(v, boot, sector, cluster),
                  f"{serial >> 16:04X}-{serial & 0xFFFF:04X}", size=_le(boot[72:80]) * sector)


def _exfat_label(v: _Volume, boot: bytes, sector: int, cluster: int) -> str | None:
    """The volume label entry (0x83) of the root directory, following its FAT chain."""
    fat, heap = _le(boot[80:84]) * sector, _le(boot[88:92]) * sector
    current, seen = _le(boot[96:100]), set()
    while 2 <= current < 0xFFFFFFF7 and current not in seen and len(seen) < 256:
        seen.add(current)
        entries = v.read(heap + (current - 2) * cluster, cluster)
        for pos in range(0, len(entries) - 31, 32):
            kind = entries[pos]
            if kind == 0:  # end of directory
                return None
            if kind == 0x83:  # character count, then UTF-16LE characters
                count = min(entries[pos + 1], 11)
                return entries[pos + 2:pos + 2 + 2 * count].decode("utf-16-le", "replace")
        current = _le(v.read(fat + 4 * current, 4) or b"\xff" * 4)
    return None


def _ntfs(v: _Volume) -> dict | None:
    boot = v.head
    if boot[3:11] != b"NTFS    ":
        return None
    out = _found("ntfs", None, f"{_le(boot[72:80]):016X}", size=_le(boot[40:48]) * _le(boot[11:13]))
    label = _ntfs_label(v, boot)
    if label:
        out["label"] = label
    return out


def _ntfs_label(v: _Volume, boot: bytes) -> str | None:
    """The $VOLUME_NAME attribute of MFT record 3 ($Volume); None if anything is off."""
    per_sector = _le(boot[11:13])
    cluster = per_sector * boot[13]
    raw_size = int.from_bytes(boot[64:65], "little", signed=True)
    record_size = 1 << -raw_size if raw_size < 0 else raw_size * cluster
    offset = _le(boot[48:56]) * cluster + 3 * record_size
    if not (per_sector and 512 <= record_size <= 64 * KiB):
        return None
    rec = bytearray(v.read(offset, record_size))
    if rec[:4] != b"FILE":
        return None
    usa_at, usa_count = _le(rec[4:6]), _le(rec[6:8])
    for i in range(1, usa_count):  # undo the update-sequence fixups at each sector's end
        end = i * per_sector
        if end > record_size or usa_at + 2 * i + 2 > record_size:
            return None
        rec[end - 2:end] = rec[usa_at + 2 * i:usa_at + 2 * i + 2]
    pos = _le(rec[20:22])
    while pos + 24 <= record_size:
        kind, length = _le(rec[pos:pos + 4]), _le(rec[pos + 4:pos + 8])
        if kind == 0xFFFFFFFF or length < 24:
            return None
        if kind == 0x60 and rec[pos + 8] == 0:  # resident $VOLUME_NAME
            size = _le(rec[pos + 16:pos + 20])
            start = pos + _le(rec[pos + 20:pos + 22])
            return bytes(rec[start:start + size]).decode("utf-16-le", "replace")
        pos += length
    return None


def _fat(v: _Volume) -> dict | None:
    """FAT: named here, described by the FAT layer (label, serial, size)."""
    return _found("fat") if looks_like_fat(v.head) else None


def _xfs(v: _Volume) -> dict | None:
    sb = v.head
    if sb[:4] != b"XFSB":
        return None
    return _found("xfs", _text(sb[108:120]), _uuid(sb[32:48]))


def _ext(v: _Volume) -> dict | None:
    """ext2/3/4 and ext journal devices (jbd), told apart by feature flags as blkid does."""
    sb = v.read(1024, 1024)
    if len(sb) < 1024 or sb[56:58] != b"\x53\xef":
        return None
    compat, incompat, ro_compat = _le(sb[92:96]), _le(sb[96:100]), _le(sb[100:104])
    if incompat & 0x8:  # JOURNAL_DEV: an external journal
        kind = "jbd"
    elif not compat & 0x4 and not ro_compat & ~0x7 and not incompat & ~0x12:
        kind = "ext2"
    elif compat & 0x4 and not ro_compat & ~0x7 and not incompat & ~0x16:
        kind = "ext3"
    else:
        kind = "ext4"
    block = 1024 << min(_le(sb[24:28]), 16)
    blocks = _le(sb[4:8]) | (_le(sb[0x150:0x154]) << 32 if incompat & 0x80 else 0)
    return _found(kind, _text(sb[120:136]), _uuid(sb[104:120]), size=blocks * block,
                  block_size=block)


def _btrfs(v: _Volume) -> dict | None:
    sb = v.read(64 * KiB, 4096)
    if sb[64:72] != b"_BHRfS_M":
        return None
    return _found("btrfs", _text(sb[299:555]), _uuid(sb[32:48]))


def _squashfs(v: _Volume) -> dict | None:
    sb = v.head
    if sb[:4] == b"hsqs":
        major = _le(sb[28:30])
        return _found("squashfs" if major >= 4 else "squashfs3")
    if sb[:4] == b"sqsh":
        return _found("squashfs3")
    return None


def _refs(v: _Volume) -> dict | None:
    return _found("ReFS") if v.head[3:11] == b"ReFS\0\0\0\0" else None


def _jfs(v: _Volume) -> dict | None:
    sb = v.read(32768, 256)
    if sb[:4] != b"JFS1":
        return None
    label = sb[152:168] if _le(sb[4:8]) != 1 else sb[101:112]
    return _found("jfs", _text(label), _uuid(sb[136:152]))


def _reiserfs(v: _Volume) -> dict | None:
    for at in (65536, 8192):
        sb = v.read(at, 256)
        if sb[:7] == b"ReIsEr4":
            return _found("reiser4", _text(sb[36:52]), _uuid(sb[20:36]))
        if sb[52:61] in (b"ReIsEr2Fs", b"ReIsEr3Fs") or sb[52:60] == b"ReIsErFs":
            new_format = sb[52:61] != b"ReIsErFs\0"
            return _found("reiserfs", _text(sb[100:116]) if new_format else None,
                          _uuid(sb[84:100]) if new_format and sb[84:100].strip(b"\0") else None)
    return None


def _f2fs(v: _Volume) -> dict | None:
    sb = v.read(1024, 1024)
    if _le(sb[0:4]) != 0xF2F52010:
        return None
    name = sb[124:124 + 512].decode("utf-16-le", "replace").split("\0", 1)[0]
    return _found("f2fs", name, _uuid(sb[108:124]))


def _erofs(v: _Volume) -> dict | None:
    sb = v.read(1024, 128)
    if _le(sb[0:4]) != 0xE0F5E1E2:
        return None
    return _found("erofs", _text(sb[64:80]), _uuid(sb[48:64]))


def _nilfs2(v: _Volume) -> dict | None:
    sb = v.read(1024, 256)
    if _le(sb[6:8]) != 0x3434:
        return None
    return _found("nilfs2", _text(sb[168:248]), _uuid(sb[152:168]))


def _hfs(v: _Volume) -> dict | None:
    signature = v.read(1024, 2)
    if signature in (b"H+", b"HX"):
        return _found("hfsplus")
    if signature == b"BD":
        if v.read(1024 + 124, 2) in (b"H+", b"HX"):  # an HFS+ volume wrapped in HFS
            return _found("hfsplus")
        name = v.read(1024 + 36, 28)  # Pascal string, Mac Roman
        return _found("hfs", name[1:1 + min(name[0], 27)].decode("mac_roman"))
    return None


def _romfs(v: _Volume) -> dict | None:
    return _found("romfs", _text(v.head[16:16 + 64])) if v.head[:8] == b"-rom1fs-" else None


def _cramfs(v: _Volume) -> dict | None:
    if v.head[:4] in (b"\x45\x3d\xcd\x28", b"\x28\xcd\x3d\x45"):
        return _found("cramfs", _text(v.head[48:64]))
    return None


def _dstring(raw: bytes) -> str | None:
    """An OSTA CS0 ``dstring``: compression id 8 (Latin-1) or 16 (UTF-16BE), length last."""
    length = raw[-1]
    data = raw[1:1 + min(max(length - 1, 0), len(raw) - 2)]
    if raw[0] == 8:
        return data.decode("latin-1")
    if raw[0] == 16:
        return data[:len(data) & ~1].decode("utf-16-be", "replace")
    return None


def _udf_uuid(volset: str) -> str | None:
    """blkid's UUID from the VolumeSetIdentifier's first 16 characters."""
    raw = volset[:16].encode("utf-8")[:16]
    if len(raw) < 8:
        return None
    hexdigits = b"0123456789abcdefABCDEF"
    nonhex = next((i for i, c in enumerate(raw[:16]) if c not in hexdigits), 16)
    if len(raw) < 16 and nonhex >= len(raw):
        nonhex = len(raw)
    if nonhex < 8:
        return raw[:8].hex()
    if nonhex < 16:
        return raw[:8].decode().lower() + raw[8:12].ljust(4, b"\0").hex()
    return raw[:16].decode().lower()


def _udf(v: _Volume) -> dict | None:
    """UDF: a volume recognition sequence with NSR02/03, an anchor at block 256, then the
    logical volume identifier (label) and the volume set identifier (UUID)."""
    for block in (512, 1024, 2048, 4096):
        step = max(block, 2048)
        nsr = False
        for n in range(64):
            ident = v.read(32768 + n * step + 1, 5)
            if not ident or ident[0] == 0:
                break
            if ident in (b"NSR02", b"NSR03"):
                nsr = True
                break
            if ident not in (b"BEA01", b"BOOT2", b"CD001", b"CDW02", b"TEA01"):
                break
        if not nsr:
            continue
        anchor = v.read(256 * block, 24)
        if len(anchor) == 24 and _le(anchor[0:2]) == 2 and _le(anchor[12:16]) == 256:
            return _udf_identifiers(v, block, _le(anchor[16:20]) // block, _le(anchor[20:24]))
    return None


def _udf_identifiers(v: _Volume, block: int, count: int, location: int) -> dict:
    label = uuid = None
    for n in range(min(count, 64)):
        desc = v.read((location + n) * block, 512)
        if len(desc) < 512:
            break
        tag = _le(desc[0:2])
        if tag in (0, 8) or _le(desc[12:16]) != location + n:
            break
        if tag == 1 and uuid is None:  # primary volume descriptor
            volset = _dstring(desc[72:200])
            uuid = _udf_uuid(volset) if volset else None
        elif tag == 6 and label is None:  # logical volume descriptor
            label = _dstring(desc[84:212])
    return _found("udf", label.rstrip() if label else None, uuid)


def _iso_date(raw: bytes) -> str | None:
    if raw[:16] == b"0" * 16 and raw[16] == 0 or not raw[:16].isdigit():
        return None
    d = raw.decode("ascii")
    return f"{d[0:4]}-{d[4:6]}-{d[6:8]}-{d[8:10]}-{d[10:12]}-{d[12:14]}-{d[14:16]}"


def _iso9660(v: _Volume) -> dict | None:
    """ISO 9660: the primary volume's label (or its Joliet one) and dates as blkid shows."""
    pvd = v.read(32768, 2048)
    if pvd[1:6] != b"CD001":
        return None
    ascii_label = bytes(pvd[40:72]).decode("latin-1")
    label = ascii_label
    uuid = _iso_date(pvd[830:847]) or _iso_date(pvd[813:830])
    svd = v.read(32768 + 2048, 2048)
    if svd[1:6] == b"CD001" and svd[0] == 2 and svd[88:91] in (b"%/@", b"%/C", b"%/E"):
        joliet = bytes(svd[40:72]).decode("utf-16-be", "replace")
        if joliet.strip("\0 "):
            label = _merge_joliet(joliet, ascii_label) or joliet
    return _found("iso9660", label.split("\0", 1)[0].rstrip(), uuid)


def _merge_joliet(joliet: str, ascii_label: str) -> str | None:
    """Joliet's 16-character label completed by the primary label when it is a prefix of it
    ('_' stands for a character ASCII cannot hold; case may differ), as blkid does."""
    out = []
    for j, a in zip(joliet, ascii_label):
        if a == "_":
            out.append(j)
        elif j == "_":
            out.append(a)
        elif j.isascii() and j.upper() == a.upper():
            out.append(j if a.isupper() else a)
        else:
            return None
    return "".join(out) + ascii_label[len(joliet):]


def _swap(v: _Volume) -> dict | None:
    """Linux swap (v0 has no label or UUID) and hibernation images (swsuspend)."""
    if v.size < 10 * 4096:
        return None
    kind = version = None
    if v.head[:8] == b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c":
        kind, version = "swsuspend", "tuxonice"
    for page in (4096, 8192, 16384, 32768, 65536):
        if kind:
            break
        magic = v.head[page - 10:page]
        if magic == b"SWAP-SPACE":
            return _found("swap", version="0")
        if magic == b"SWAPSPACE2":
            kind, version = "swap", "1"
        elif magic[:9] in (b"S1SUSPEND", b"S2SUSPEND", b"ULSUSPEND"):
            kind, version = "swsuspend", magic[:9].decode().lower()
        elif magic == b"LINHIB0001":
            kind, version = "swsuspend", "linhib0001"
    if kind is None:
        return None
    hdr = v.head[1024:1024 + 536]
    if kind == "swap" and (_le(hdr[0:4]) not in (1, 0x01000000) or _le(hdr[4:8]) == 0):
        return None
    if hdr[44 + 128:44 + 136] == bytes(8):  # no garbage where the header has padding
        return _found(kind, _text(hdr[28:44]) if hdr[28] else None, _uuid(hdr[12:28]),
                      version=version)
    return _found(kind, version=version)


_PROBES = [_mdraid, _lvm2, _luks, _bitlocker, _hpfs, _exfat, _ntfs, _fat, _xfs, _ext,
           _reiserfs, _jfs, _btrfs, _squashfs, _refs, _udf, _iso9660, _hfs, _cramfs, _romfs,
           _nilfs2, _f2fs, _erofs, _swap]


# What ``filesystem`` can name, in blkid's words (FAT: "vfat"; diskkit says fat12/16/32).
FILESYSTEMS = ("linux_raid_member", "LVM2_member", "crypto_LUKS", "BitLocker", "hpfs", "exfat",
               "ntfs", "vfat", "xfs", "ext2", "ext3", "ext4", "jbd", "reiserfs", "reiser4",
               "jfs", "btrfs", "squashfs", "squashfs3", "ReFS", "udf", "iso9660", "hfs",
               "hfsplus", "cramfs", "romfs", "nilfs2", "f2fs", "erofs", "swap", "swsuspend")


def filesystem(read: Reader, size: int) -> dict | None:
    """What a volume of ``size`` bytes holds, read through ``read(offset, n)``: ``type``
    (blkid's name), ``label`` and ``uuid`` where it has them.

    None when the first bytes are all zero; ``{"type": "unknown"}`` when nothing is
    recognised. FAT volumes are named ``fat`` here: their type, label and serial come from
    the FAT layer (``diskkit.ops.inspect``).
    """
    volume = _Volume(read, size)
    for probe in _PROBES:
        found = probe(volume)
        if found is not None:
            return found
    if not volume.head.strip(b"\0"):
        return None
    return {"type": "unknown"}
