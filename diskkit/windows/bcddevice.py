"""BCD device elements: the binary ``Element`` value of every element of format 1 (device).

What ``bcdedit`` shows as ``partition=C:``, ``boot``, ``ramdisk=[C:]\\x.vhd,{ramdiskoptions}``
or ``vhd=[C:]\\x.vhd`` is stored as one REG_BINARY value. Layout (all little-endian), as
documented by the sources below and checked against real ``bcdedit`` output in the tests:

``element``   16-byte GUID of an additional-options object ({ramdiskoptions} for a RAM
              disk; zero when none), then one device descriptor.
``descriptor`` u32 device type, u32 flags, u32 size (of this descriptor, header included),
              u32 reserved, then the type's body:

- type 5 ``boot``: no body (the partition the boot manager was loaded from).
- type 6 ``partition``: 16 bytes partition id (GPT: the partition's unique GUID; MBR: u64
  byte offset of the partition), u32 reserved, u32 partition style (0 GPT, 1 MBR), 16 bytes
  disk id (GPT: disk GUID; MBR: u32 disk signature, the MBR's bytes 440-443).
- type 0 ``block``: u32 block type, then per block type: 3 ``ramdisk`` = u64 image base,
  u64 image size, u32 image offset, then a file reference; 5 ``file`` = a file reference;
  6 ``virtual disk`` (vhd=) = 20 reserved bytes, then the descriptor of the file device.
- type 8 ``locate``: u32 locate kind, u32 element type naming the path to look for, u32
  offset of the parent descriptor counted from this descriptor's start.
- a file reference: u32 version (1), u32 length, u32 path type, the descriptor of the device
  holding the file, then the file's path in UTF-16LE up to a NUL.

Sources: mistyprojects.co.uk "BCDEdit - Devices Partition - Data" (bcdedit's own bytes for
MBR and GPT partitions); ReactOS ``boot/environ/include/bl.h`` (BL_DEVICE_DESCRIPTOR, device
and block-device type numbers); a1ive's ntloader ``bcd.c`` (the ramdisk and vhd device
layouts it writes into the BCD that Microsoft's boot manager then boots). See docs/windows.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from construct import Bytes, ConstructError, Int32ul, Int64ul, Struct

from ..errors import CorruptImage

HEADER = Struct("device_type" / Int32ul, "flags" / Int32ul, "size" / Int32ul,
                "reserved" / Int32ul)
PARTITION = Struct("partition_id" / Bytes(16), "reserved" / Int32ul, "style" / Int32ul,
                   "disk_id" / Bytes(16))
RAMDISK = Struct("image_base" / Int64ul, "image_size" / Int64ul, "image_offset" / Int32ul)
FILE_REF = Struct("version" / Int32ul, "length" / Int32ul, "path_type" / Int32ul)
LOCATE = Struct("kind" / Int32ul, "element" / Int32ul, "parent_offset" / Int32ul)

GUID_SIZE = 16
HEADER_SIZE = HEADER.sizeof()
PARTITION_DESCRIPTOR_SIZE = 0x48  # what bcdedit writes: header + body + 16 reserved bytes
VIRTUAL_DISK_RESERVED = 20
MAX_DEPTH = 4  # vhd -> file -> partition is 3 levels; deeper is not a real device
MAX_DEVICE_BYTES = 64 * 1024

# Descriptor types (ReactOS bl.h DEVICE_TYPE) and block-device types (BL_LOCAL_DEVICE_TYPE).
BLOCK, LEGACY_PARTITION, SERIAL, UDP, BOOT, PARTITION_EX, LOCATE_DEVICE = 0, 2, 3, 4, 5, 6, 8
BLOCK_DISK, BLOCK_FLOPPY, BLOCK_CDROM, BLOCK_RAMDISK, BLOCK_FILE, BLOCK_VIRTUAL_DISK = 0, 1, 2, 3, 5, 6
STYLE_GPT, STYLE_MBR = 0, 1
FILE_PATH_TYPE = 5  # the path type bcdedit writes in a file reference


@dataclass(frozen=True)
class Device:
    """One decoded device. ``kind`` is boot, partition, ramdisk, file, vhd, locate or another
    name bcdedit uses; the other fields are set where the kind has them."""

    kind: str
    table: str | None = None          # gpt | mbr (partition)
    disk: str | None = None           # GPT disk GUID, or MBR signature as 0x%08x
    partition: str | None = None      # GPT partition GUID
    offset: int | None = None         # MBR partition byte offset
    path: str | None = None           # the file (ramdisk, file, vhd) on ``parent``
    parent: "Device | None" = None
    image_offset: int | None = None   # ramdisk: offset kept in the device itself (usually 0)

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if v is not None and k != "parent"}
        if self.parent is not None:
            out["parent"] = self.parent.to_dict()
        return out

    def to_text(self) -> str:
        if self.kind == "partition":
            if self.table == "gpt":
                return f"partition (GPT disk {self.disk}, partition {self.partition})"
            return f"partition (MBR disk {self.disk}, offset {self.offset})"
        if self.kind in ("ramdisk", "vhd", "file"):
            where = self.parent.to_text() if self.parent else "?"
            prefix = "" if self.kind == "file" else f"{self.kind}="
            return f"{prefix}[{where}]{self.path or ''}"
        return self.kind


@dataclass(frozen=True)
class DeviceElement:
    """A device element's value: the device and its additional-options object, if any."""

    device: Device
    options: str | None = None  # "{ae5534e0-...}" or None

    def to_dict(self) -> dict:
        return {"device": self.device.to_dict(), "options": self.options}

    def to_text(self, name_of=None) -> str:
        text = self.device.to_text()
        if self.options:
            text += "," + (name_of(self.options) if name_of else self.options)
        return text


def _guid(raw: bytes) -> str:
    return "{" + str(uuid.UUID(bytes_le=bytes(raw))) + "}"


def _bare_guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=bytes(raw)))


def _utf16_path(raw: bytes) -> str:
    end = 0
    while end + 1 < len(raw) and raw[end:end + 2] != b"\0\0":
        end += 2
    return raw[:end].decode("utf-16-le", "replace")


def decode_element(data: bytes) -> DeviceElement:
    """Decode a device element's bytes; CorruptImage says what is wrong where."""
    data = bytes(data)
    if len(data) > MAX_DEVICE_BYTES:
        raise CorruptImage(f"device element of {len(data)} bytes (more than any real device)")
    if len(data) < GUID_SIZE + HEADER_SIZE:
        raise CorruptImage(f"device element of {len(data)} bytes is shorter than its header "
                           f"({GUID_SIZE + HEADER_SIZE})")
    options = None if data[:GUID_SIZE] == bytes(GUID_SIZE) else _guid(data[:GUID_SIZE])
    device, _ = _descriptor(data, GUID_SIZE, len(data), 0)
    return DeviceElement(device, options)


def _descriptor(data: bytes, start: int, limit: int, depth: int) -> tuple[Device, int]:
    """The descriptor at ``start`` (not past ``limit``) and the offset just after it."""
    if depth > MAX_DEPTH:
        raise CorruptImage(f"device descriptors nested deeper than {MAX_DEPTH} levels")
    if start + HEADER_SIZE > limit:
        raise CorruptImage(f"device descriptor at byte {start} runs past the element's end")
    head = HEADER.parse(data[start:start + HEADER_SIZE])
    size = head.size
    if size < HEADER_SIZE or start + size > limit:
        raise CorruptImage(f"device descriptor at byte {start} claims {size} bytes "
                           f"({limit - start} available)")
    end = start + size
    body = start + HEADER_SIZE
    kind = head.device_type
    try:
        if kind == BOOT:
            return Device("boot"), end
        if kind == PARTITION_EX:
            return _partition(data, body, end), end
        if kind == BLOCK:
            return _block(data, body, end, depth), end
        if kind == LOCATE_DEVICE:
            return _locate(data, start, body, end, depth), end
    except ConstructError as exc:
        raise CorruptImage(f"device descriptor at byte {start}: {exc}") from None
    names = {LEGACY_PARTITION: "legacy partition", SERIAL: "serial", UDP: "network (udp)"}
    return Device(names.get(kind, f"device type {kind}")), end


def _need(data: bytes, at: int, size: int, end: int, what: str) -> bytes:
    if at + size > end:
        raise CorruptImage(f"{what} at byte {at} runs past its descriptor's end ({end})")
    return data[at:at + size]


def _partition(data: bytes, at: int, end: int) -> Device:
    p = PARTITION.parse(_need(data, at, PARTITION.sizeof(), end, "partition data"))
    if p.style == STYLE_GPT:
        return Device("partition", "gpt", disk=_bare_guid(p.disk_id),
                      partition=_bare_guid(p.partition_id))
    if p.style == STYLE_MBR:
        return Device("partition", "mbr", disk=f"0x{int.from_bytes(p.disk_id[:4], 'little'):08x}",
                      offset=int.from_bytes(p.partition_id[:8], "little"))
    return Device("partition", f"style {p.style}")


def _file_ref(data: bytes, at: int, end: int, depth: int) -> tuple[Device, str]:
    _need(data, at, FILE_REF.sizeof(), end, "file reference")  # version, length, path type: not shown
    parent, after = _descriptor(data, at + FILE_REF.sizeof(), end, depth + 1)
    return parent, _utf16_path(data[after:end])


def _block(data: bytes, at: int, end: int, depth: int) -> Device:
    block = Int32ul.parse(_need(data, at, 4, end, "block device type"))
    at += 4
    if block == BLOCK_RAMDISK:
        ram = RAMDISK.parse(_need(data, at, RAMDISK.sizeof(), end, "ramdisk data"))
        parent, path = _file_ref(data, at + RAMDISK.sizeof(), end, depth)
        return Device("ramdisk", path=path, parent=parent, image_offset=ram.image_offset)
    if block == BLOCK_FILE:
        parent, path = _file_ref(data, at, end, depth)
        return Device("file", path=path, parent=parent)
    if block == BLOCK_VIRTUAL_DISK:
        inner, _ = _descriptor(data, at + VIRTUAL_DISK_RESERVED, end, depth + 1)
        if inner.kind != "file":
            raise CorruptImage(f"virtual disk device at byte {at} holds a {inner.kind} device, "
                               "not a file")
        return Device("vhd", path=inner.path, parent=inner.parent)
    names = {BLOCK_DISK: "disk", BLOCK_FLOPPY: "floppy", BLOCK_CDROM: "cdrom"}
    return Device(names.get(block, f"block device type {block}"))


def _locate(data: bytes, start: int, at: int, end: int, depth: int) -> Device:
    loc = LOCATE.parse(_need(data, at, LOCATE.sizeof(), end, "locate data"))
    if loc.parent_offset == 0:
        return Device("locate")
    parent, _ = _descriptor(data, start + loc.parent_offset, end, depth + 1)
    if parent.kind == "vhd":  # bcdedit's vhd=: find the partition inside the VHD by path
        return parent
    return Device("locate", parent=parent)


# -- encoding (what bcdedit writes), for building stores and round-trip checks ---------------

def _header(device_type: int, body: bytes, flags: int = 0) -> bytes:
    return HEADER.build(dict(device_type=device_type, flags=flags, size=HEADER_SIZE + len(body),
                             reserved=0)) + body


def _encode(device: Device) -> bytes:
    if device.kind == "boot":
        return _header(BOOT, bytes(PARTITION_DESCRIPTOR_SIZE - HEADER_SIZE))
    if device.kind == "partition":
        if device.table == "gpt":
            body = PARTITION.build(dict(partition_id=uuid.UUID(device.partition).bytes_le,
                                        reserved=0, style=STYLE_GPT,
                                        disk_id=uuid.UUID(device.disk).bytes_le))
        else:
            body = PARTITION.build(dict(
                partition_id=int(device.offset).to_bytes(16, "little"), reserved=0,
                style=STYLE_MBR, disk_id=int(device.disk, 16).to_bytes(16, "little")))
        return _header(PARTITION_EX, body.ljust(PARTITION_DESCRIPTOR_SIZE - HEADER_SIZE, b"\0"))
    if device.kind in ("ramdisk", "file", "vhd"):
        path = (device.path or "").encode("utf-16-le") + b"\0\0"
        inner = _encode(device.parent)
        ref = FILE_REF.build(dict(version=1, length=FILE_REF.sizeof() + len(inner) + len(path),
                                  path_type=FILE_PATH_TYPE)) + inner + path
        if device.kind == "ramdisk":
            ram = RAMDISK.build(dict(image_base=0, image_size=0,
                                     image_offset=device.image_offset or 0))
            return _header(BLOCK, Int32ul.build(BLOCK_RAMDISK) + ram + ref, flags=1)
        file_dev = _header(BLOCK, Int32ul.build(BLOCK_FILE) + ref)
        if device.kind == "file":
            return file_dev
        vdisk = _header(BLOCK, Int32ul.build(BLOCK_VIRTUAL_DISK) + bytes(VIRTUAL_DISK_RESERVED)
                        + file_dev)
        locate_body = LOCATE.build(dict(kind=0, element=0x12000002,
                                        parent_offset=HEADER_SIZE + LOCATE.sizeof() + 2))
        return _header(LOCATE_DEVICE, locate_body + b"\0\0" + vdisk)
    raise ValueError(f"cannot encode a {device.kind} device")


def encode_element(element: DeviceElement) -> bytes:
    """The bytes bcdedit stores for ``element`` (boot, partition, ramdisk, file, vhd)."""
    options = uuid.UUID(element.options.strip("{}")).bytes_le if element.options else bytes(16)
    return options + _encode(element.device)
