"""The 512-byte VHD footer (VHD spec 1.0): layout, checksum, CHS geometry, creator.

Pure parse/build: bytes in, ``Footer`` out and back. No file I/O here.
"""

from __future__ import annotations

import time

from ..errors import CorruptImage, UsageError
from ..guid import uuid_text
from ..reproducible import now, unique_bytes
from ..signatures import VHD_COOKIE
from ..structs import Const, Layout, Record
from ..units import GiB, MiB

COOKIE = VHD_COOKIE
FOOTER_SIZE = 512
SECTOR = 512
FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
DISK_TYPES = {FIXED: "fixed", DYNAMIC: "dynamic", DIFFERENCING: "differencing"}
NO_DATA_OFFSET = 0xFFFFFFFFFFFFFFFF  # fixed disks: no dynamic header
FEATURES_RESERVED = 0x2  # spec: always set
FORMAT_VERSION = 0x00010000
MAX_SIZE = 2040 * GiB  # the spec's limit, enforced by qemu and Hyper-V
EPOCH_2000 = 946684800  # VHD timestamps count seconds from 2000-01-01 00:00:00 UTC
MAX_CHS = (65535, 16, 255)

# qemu derives the disk size from CHS unless the creator is one it trusts for the exact
# size. 'qem2' is qemu's own marker for "current size is authoritative" (see docs/vhd.md).
CREATOR_APP = b"qem2"
CREATOR_VERSION = 0x00000001  # diskkit 0.1
CREATOR_HOST_WINDOWS = b"Wi2k"
# Creators whose footers state the exact size. qemu compares "d2v " with strncmp, so the
# NUL-terminated "d2v\0" some disk2vhd builds write falls back to CHS there.
QEMU_TRUSTED_CREATORS = (b"win ", b"qem2", b"d2v ", b"tap\0", b"CTXS")
EXACT_SIZE_CREATORS = QEMU_TRUSTED_CREATORS + (b"d2v\0",)

FOOTER = Layout(
    ">",
    ("cookie", Const(COOKIE)),
    ("features", "I", FEATURES_RESERVED),
    ("format_version", "I", FORMAT_VERSION),
    ("data_offset", "Q", NO_DATA_OFFSET),
    ("timestamp", "I", 0),
    ("creator_app", "4s", CREATOR_APP),
    ("creator_version", "I", CREATOR_VERSION),
    ("creator_host_os", "4s", CREATOR_HOST_WINDOWS),
    ("original_size", "Q"),
    ("current_size", "Q"),
    ("cylinders", "H", 0),
    ("heads", "B", 0),
    ("sectors_per_track", "B", 0),
    ("disk_type", "I", FIXED),
    ("checksum", "I", 0),  # recomputed by build_footer
    ("unique_id", "16s", bytes(16)),
    ("saved_state", "B", 0),
    ("reserved", "427s", bytes(427)),
)
CHECKSUM_OFFSET = 64


def ones_complement_checksum(data: bytes, skip: int) -> int:
    """The spec's checksum: ones' complement of the byte sum, the 4-byte field at ``skip`` as 0."""
    total = sum(data) - sum(data[skip:skip + 4])
    return ~total & 0xFFFFFFFF


def chs_geometry(size: int) -> tuple[int, int, int]:
    """CHS for ``size`` bytes, exactly as the VHD spec's appendix computes it."""
    total = min(size // SECTOR, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cyl_heads = total // spt
    else:
        spt = 17
        cyl_heads = total // spt
        heads = max((cyl_heads + 1023) // 1024, 4)
        if cyl_heads >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cyl_heads = total // spt
        if cyl_heads >= heads * 1024:
            spt, heads = 63, 16
            cyl_heads = total // spt
    return cyl_heads // heads, heads, spt


def check_virtual_size(size: int) -> None:
    """Refuse sizes no VHD reader accepts."""
    if size <= 0 or size % SECTOR:
        raise UsageError(f"VHD size {size} must be a positive multiple of 512 bytes")
    if size > MAX_SIZE:
        raise UsageError(f"VHD size {size} exceeds the format's limit of 2040 GiB")


def size_warnings(size: int) -> list[str]:
    """Advice that does not stop a create: Azure and Hyper-V want whole MiB."""
    if size % MiB:
        return [f"size {size} is not a multiple of 1 MiB (Azure and Hyper-V expect whole MiB)"]
    return []


def vhd_timestamp(when: float | None = None) -> int:
    """Seconds since 2000-01-01 UTC; honours SOURCE_DATE_EPOCH for reproducible images."""
    when = now() if when is None else when
    return max(0, int(when) - EPOCH_2000) & 0xFFFFFFFF


def timestamp_to_unix(stamp: int) -> int:
    return stamp + EPOCH_2000


def iso_time(stamp: int) -> str:
    """A VHD timestamp as ISO 8601 UTC text."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(timestamp_to_unix(stamp)))


class Footer(Record, layout=FOOTER):
    """Every field of the footer (declared once, in ``FOOTER``)."""

    @property
    def chs_size(self) -> int:
        """The size a CHS-trusting reader (Virtual PC, old qemu) derives from the geometry."""
        return self.cylinders * self.heads * self.sectors_per_track * SECTOR

    @property
    def geometry(self) -> tuple[int, int, int]:
        return self.cylinders, self.heads, self.sectors_per_track

    @property
    def type_name(self) -> str:
        return DISK_TYPES.get(self.disk_type, f"unknown ({self.disk_type})")

    @property
    def uuid(self) -> str:
        return uuid_text(self.unique_id)

    def qemu_size(self) -> int:
        """The size qemu shows: current size for trusted creators or maximal CHS, else CHS."""
        if self.creator_app in QEMU_TRUSTED_CREATORS or self.geometry == MAX_CHS:
            return self.current_size
        return self.chs_size

    def geometry_mismatch(self) -> str | None:
        """Why CHS-based readers would see another size than ``current_size``, or None."""
        if self.geometry == MAX_CHS or self.chs_size == self.current_size:
            return None
        if self.creator_app in EXACT_SIZE_CREATORS and self.geometry == chs_geometry(self.current_size):
            return None  # the spec geometry rounds down; trusted creators are read by size
        return (f"CHS {self.cylinders}/{self.heads}/{self.sectors_per_track} gives "
                f"{self.chs_size} bytes but the current size is {self.current_size}")

    def resized(self, new_size: int) -> "Footer":
        """The same disk with a new current size and matching geometry."""
        c, h, s = chs_geometry(new_size)
        return self.replace(current_size=new_size, cylinders=c, heads=h, sectors_per_track=s)


def new_footer(size: int, disk_type: int, unique_id: bytes | None = None,
               timestamp: int | None = None, context: tuple = ()) -> Footer:
    """A footer as diskkit writes it: spec geometry, exact-size creator, fresh UUID (derived
    from ``SOURCE_DATE_EPOCH``, the size, type and ``context`` when that is set)."""
    check_virtual_size(size)
    c, h, s = chs_geometry(size)
    return Footer(
        current_size=size, original_size=size, disk_type=disk_type,
        data_offset=FOOTER_SIZE if disk_type != FIXED else NO_DATA_OFFSET,
        timestamp=vhd_timestamp() if timestamp is None else timestamp,
        cylinders=c, heads=h, sectors_per_track=s,
        unique_id=unique_id if unique_id is not None else
        unique_bytes(16, "vhd", size, disk_type, *context),
    )


def build_footer(footer: Footer) -> bytes:
    """512 bytes with a correct checksum."""
    raw = footer.replace(checksum=0).build()
    total = ones_complement_checksum(raw, CHECKSUM_OFFSET)
    return raw[:CHECKSUM_OFFSET] + total.to_bytes(4, "big") + raw[CHECKSUM_OFFSET + 4:]


def footer_info(f: Footer) -> dict:
    """What ``diskkit vhd info`` shows of a footer."""
    warnings = size_warnings(f.current_size)
    mismatch = f.geometry_mismatch()
    if mismatch:
        warnings.append(mismatch)
    return {
        "container": f.type_name, "virtual_size": f.current_size, "original_size": f.original_size,
        "geometry": {"cylinders": f.cylinders, "heads": f.heads, "sectors": f.sectors_per_track,
                     "chs_size": f.chs_size},
        "creator": {"application": f.creator_app.decode("latin-1"),
                    "version": f"{f.creator_version >> 16}.{f.creator_version & 0xFFFF}",
                    "host_os": f.creator_host_os.decode("latin-1")},
        "uuid": f.uuid, "timestamp": iso_time(f.timestamp), "saved_state": bool(f.saved_state),
        "features": f.features,
        "format_version": f"{f.format_version >> 16}.{f.format_version & 0xFFFF}",
        "warnings": warnings,
    }


def is_footer(data: bytes) -> bool:
    return data[:8] == COOKIE


def parse_footer(data: bytes, where: str = "footer", verify: bool = True) -> Footer:
    """Parse a footer; 511-byte footers (old Virtual PC) are padded. Raises CorruptImage."""
    if len(data) not in (511, 512) or not is_footer(data):
        raise CorruptImage(f"{where}: no VHD footer (cookie 'conectix' missing)")
    raw = bytes(data).ljust(FOOTER_SIZE, b"\0")
    footer = Footer.parse(raw)
    if verify:
        expected = ones_complement_checksum(raw, CHECKSUM_OFFSET)
        if expected != footer.checksum:
            raise CorruptImage(f"{where}: footer checksum mismatch "
                               f"(stored {footer.checksum:#010x}, computed {expected:#010x})")
    return footer
