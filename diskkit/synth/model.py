"""What a synthetic image holds: plain dataclasses that round-trip through JSON.

A ``Description`` is the "expected" side of a property test: the container, the partition
table with every partition's exact position, each FAT volume's geometry and the files in it,
and any damage done on purpose. Positions and sizes are bytes. File contents are not stored
but regenerated from a seed (``File.content()``), unless given literally (``File.data``).
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass, field, fields

from ..part import types

DEFAULT_TIMESTAMP = 1704067200  # 2024-01-01 00:00:00 UTC, when SOURCE_DATE_EPOCH is unset


def pattern(size: int, seed: int, zeros: bool = False) -> bytes:
    """Content regenerated from a seed (the same on every machine and Python version)."""
    return bytes(size) if zeros else random.Random(seed).randbytes(size)


@dataclass
class File:
    """One file or directory of a FAT volume. ``path`` is ``/``-separated, without a leading
    ``/``; parents that are not listed exist implicitly."""

    path: str
    size: int = 0
    directory: bool = False
    seed: int = 0
    zeros: bool = False  # content is all zero bytes (sparse-aware tools skip such runs)
    data: bytes | None = None  # literal content (then ``size`` is its length)

    def content(self) -> bytes:
        """The file's bytes: ``data``, else ``size`` bytes regenerated from ``seed``."""
        if self.data is not None:
            return bytes(self.data)
        return pattern(self.size, self.seed, self.zeros)


@dataclass
class FatVolume:
    """A FAT filesystem as diskkit's ``fat.mkfs`` lays it out, and the files put in it."""

    fat_type: int  # 12, 16 or 32
    size: int  # bytes: the whole volume (and its partition, when it has one)
    cluster_size: int
    cluster_count: int
    sector_size: int = 512
    label: str | None = None
    serial: int = 0  # volume ID, shown as XXXX-XXXX
    files: list[File] = field(default_factory=list)

    @property
    def serial_text(self) -> str:
        return f"{self.serial >> 16:04X}-{self.serial & 0xFFFF:04X}"

    def tree(self) -> dict[str, bytes | None]:
        """``{path: bytes}`` for files and ``{path: None}`` for every directory, implied ones
        included: what a correct reader lists."""
        out: dict[str, bytes | None] = {}
        for f in self.files:
            parts = f.path.split("/")
            for depth in range(1, len(parts)):
                out.setdefault("/".join(parts[:depth]), None)
            out[f.path] = None if f.directory else f.content()
        return out


@dataclass
class Partition:
    """One partition: GPT entry or MBR entry (primary, the extended container, or logical)."""

    index: int
    start: int  # bytes from the start of the disk
    size: int
    type: str | int  # GPT: lowercase type GUID; MBR: the type byte
    name: str = ""  # GPT
    guid: str | None = None  # GPT unique partition GUID
    attributes: int = 0  # GPT attribute bits
    bootable: bool = False  # MBR boot flag
    logical: bool = False  # MBR logical partition (inside the extended one)
    filesystem: FatVolume | None = None

    @property
    def end(self) -> int:
        """Last byte."""
        return self.start + self.size - 1

    @property
    def extended(self) -> bool:
        return (isinstance(self.type, int) and self.type in types.MBR_EXTENDED_CODES
                and not self.logical)

    @property
    def type_name(self) -> str:
        if isinstance(self.type, int):
            return types.mbr_type_name(self.type)
        return types.gpt_type_name(self.type)


@dataclass
class Table:
    """A GPT or MBR partition table."""

    kind: str  # "gpt" or "mbr"
    sector_size: int = 512
    disk_guid: str | None = None  # GPT
    disk_signature: int | None = None  # MBR
    entry_count: int = 128  # GPT entries in each array
    partitions: list[Partition] = field(default_factory=list)


@dataclass
class Container:
    """The image file's format: ``raw``, ``fixed`` or ``dynamic`` (VHD), ``vhdx`` (dynamic)
    or ``vhdx-fixed``. A VHDX records the disk's logical sector size: the table's (or the
    whole-disk filesystem's)."""

    kind: str
    size: int  # the virtual disk's size in bytes
    block_size: int | None = None  # dynamic VHD, VHDX
    unique_id: str | None = None  # VHD unique id, VHDX virtual disk id


@dataclass
class Extent:
    """Data written at a disk offset (inside a partition without a filesystem, or on a bare
    disk): ``size`` bytes regenerated from ``seed``, or zeros."""

    offset: int
    size: int
    seed: int = 0
    zeros: bool = False

    def content(self) -> bytes:
        return pattern(self.size, self.seed, self.zeros)


@dataclass
class Damage:
    """Harm done on purpose, and what a correct checker says about it.

    ``detail`` holds what was changed (offsets, values) so the damage can be redone;
    ``detected_by`` names the independent tools that notice it (``diskkit check``,
    ``qemu-img``, ``sgdisk``, ``sfdisk``, ``fsck.fat``).
    """

    kind: str  # e.g. "gpt-primary-header-crc"
    layer: str  # "container", "table" or "filesystem"
    severity: str  # what a checker must say: "error" or "warning"
    expect: str  # the finding in words
    partition: int | None = None
    detail: dict = field(default_factory=dict)
    detected_by: list[str] = field(default_factory=list)


@dataclass
class Description:
    """Everything in one synthetic image."""

    container: Container
    table: Table | None = None
    filesystem: FatVolume | None = None  # a filesystem on the whole disk (no table)
    timestamp: int = DEFAULT_TIMESTAMP  # every time stamp in the image, Unix seconds
    seed: int = 0  # identifiers and file contents derive from it
    extents: list[Extent] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)

    @property
    def partitions(self) -> list[Partition]:
        return self.table.partitions if self.table else []

    @property
    def sector_size(self) -> int:
        """The disk's logical sector size: the table's, or the whole-disk filesystem's."""
        holder = self.table or self.filesystem
        return holder.sector_size if holder else 512

    def partition(self, index: int) -> Partition:
        for p in self.partitions:
            if p.index == index:
                return p
        raise KeyError(f"no partition {index} in this image")

    def volumes(self) -> list[tuple[Partition | None, FatVolume]]:
        """Every FAT volume with its partition (None for a whole-disk filesystem)."""
        if self.filesystem is not None:
            return [(None, self.filesystem)]
        return [(p, p.filesystem) for p in self.partitions if p.filesystem is not None]

    def offset_of(self, partition: Partition | None) -> int:
        return 0 if partition is None else partition.start

    # -- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return _plain(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict) -> "Description":
        return _load(cls, data)

    @classmethod
    def from_json(cls, text: str) -> "Description":
        return cls.from_dict(json.loads(text))


# Which class each nested field holds (lists hold the class named).
_NESTED = {
    (Description, "container"): Container, (Description, "table"): Table,
    (Description, "filesystem"): FatVolume, (Description, "damage"): Damage,
    (Description, "extents"): Extent,
    (Table, "partitions"): Partition, (Partition, "filesystem"): FatVolume,
    (FatVolume, "files"): File,
}


def _plain(obj):
    """A dataclass tree as JSON-ready values; bytes become ``{"base64": ...}``."""
    if isinstance(obj, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}
    return obj


def _load(cls, data: dict):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    values = {}
    for name, value in data.items():
        nested = _NESTED.get((cls, name))
        if nested is not None and value is not None:
            value = ([_load(nested, v) for v in value] if isinstance(value, list)
                     else _load(nested, value))
        elif isinstance(value, dict) and set(value) == {"base64"}:
            value = base64.b64decode(value["base64"])
        values[name] = value
    return cls(**values)
