"""The header of a WIM (or ESD) file: enough to check an image index before deploying.

Layout from wimlib's ``wim_header_disk`` (little-endian): the magic, header size, version,
flags, chunk size, GUID, part number and count, then the number of images.
"""

from __future__ import annotations

from dataclasses import dataclass

from construct import Bytes, Const, ConstructError, Int16ul, Int32ul, Struct

from ..errors import CorruptImage, ImageIOError, NotFound

WIM_MAGIC = b"MSWIM\0\0\0"
WIM_HEADER = Struct(
    "magic" / Const(WIM_MAGIC),
    "header_size" / Int32ul,
    "version" / Int32ul,
    "flags" / Int32ul,
    "chunk_size" / Int32ul,
    "guid" / Bytes(16),
    "part_number" / Int16ul,
    "total_parts" / Int16ul,
    "image_count" / Int32ul,
)


@dataclass(frozen=True)
class WimHeader:
    image_count: int
    part_number: int
    total_parts: int


def parse_header(data: bytes, name: str = "<wim>") -> WimHeader:
    """The image count and part numbers from the first bytes of a WIM or ESD file."""
    try:
        header = WIM_HEADER.parse(data)
    except ConstructError:
        raise CorruptImage(f"{name}: not a WIM or ESD file (no MSWIM header); give "
                           "sources\\install.wim or install.esd from the Windows ISO") from None
    return WimHeader(header.image_count, header.part_number, header.total_parts)


def read_header(path: str) -> WimHeader:
    try:
        with open(path, "rb") as fh:
            data = fh.read(WIM_HEADER.sizeof())
    except FileNotFoundError:
        raise NotFound(f"{path}: no such WIM file") from None
    except IsADirectoryError:
        raise NotFound(f"{path}: is a folder, not a WIM file") from None
    except OSError as exc:
        raise ImageIOError(f"{path}: {exc.strerror or exc}") from None
    return parse_header(data, path)
