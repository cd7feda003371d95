"""Open any image file as a BlockDevice, whatever its container; open a volume inside it.

A file is opened and probed once: each entry of ``CONTAINERS`` looks at the open host file
in turn (VHD footer, foreign magic numbers, an ISO 9660 volume), and the first that
recognises it opens the device on the same file descriptor. A file nobody recognises is a
raw image (``FileDevice``). Every device has ``.container`` (``raw``, ``fixed``,
``dynamic``, ``vhdx``).

Adding a container format is one entry in ``CONTAINERS``: a ``Container`` with the format's
``detect(region) -> found | None`` and ``open(region, found, writable) -> BlockDevice``
(and optionally ``describe``/``check``). A format diskkit recognises but cannot read has
``open=None`` and a ``way_out`` telling the user what to do instead; replacing that with an
opener is all it takes to support it (VHDX went that way).
"""

from __future__ import annotations

from collections.abc import Callable

from . import signatures
from .blockdev import COPY_CHUNK, BlockDevice, FileDevice, FileRegion, SliceDevice, is_zero
from .errors import CorruptImage, Unsupported, UsageError
from .report import Report


class Container:
    """One container format: how to recognise it in an open file and how to open it."""

    def __init__(self, name: str, detect: Callable[[FileRegion], object | None],
                 open: Callable[..., BlockDevice] | None = None,
                 describe: Callable[[FileRegion, object], dict] | None = None,
                 check: Callable[[FileRegion], Report] | None = None, way_out: str = ""):
        self.name = name
        self.detect = detect  # -> what open/describe/check need, or None
        self.open = open  # (region, found, writable) -> device
        self.describe = describe  # default: open(...).info()
        self.check = check  # default: opening it is the check
        self.way_out = way_out  # for formats diskkit does not read: what to do instead


def _vhd_detect(region):
    size = region.file_size()
    if not signatures.may_be_vhd(region.pread(0, 8), region.pread(max(0, size - 512), 512)):
        return None  # not a VHD: its code (and the construct library) is not even imported
    from . import vhd

    return vhd.probe(region)


def _vhd_open(region, found, writable):
    from . import vhd

    return vhd.open_found(region, found, writable)


def _vhd_describe(region, found):
    from . import vhd

    return vhd.describe(region, found)


def _vhd_check(region):
    from . import vhd

    return vhd.check_region(region)


def _vhdx_open(region, found, writable):
    from .vhdx import VhdxDevice

    return VhdxDevice(region, writable)


def _vhdx_describe(region, found):
    from . import vhdx

    return vhdx.describe(region)


def _vhdx_check(region):
    from . import vhdx

    return vhdx.check_region(region)


def _magic(name: str):
    """``detect`` for a format named by ``signatures.container``."""
    def detect(region: FileRegion):
        return True if signatures.container(region.pread(0, signatures.CONTAINER_HEAD)) == name \
            else None
    return detect


def _optical(region: FileRegion):
    """An ISO 9660 (or UDF bridge) volume at 32 KiB: a disc image, not a disk."""
    return True if region.pread(32769, 5) == b"CD001" else None


def _vmdk_descriptor(region: FileRegion):
    if signatures.container(region.pread(0, signatures.CONTAINER_HEAD)) != "vmdk-descriptor":
        return None
    from .vmdk import extents

    text = region.pread(0, min(region.file_size(), 64 * 1024)).decode("utf-8", "replace")
    return extents(text) or [""]


_CONVERT = "convert it with qemu-img convert -O vpc -o subformat=fixed {path} OUT.vhd"

CONTAINERS: list[Container] = [
    Container("vhd", _vhd_detect, _vhd_open, _vhd_describe, _vhd_check),
    Container("vhdx", _magic("vhdx"), _vhdx_open, _vhdx_describe, _vhdx_check),
    Container("qcow", _magic("qcow"), way_out=_CONVERT),
    Container("qcow2", _magic("qcow2"), way_out=_CONVERT),
    Container("vmdk", _magic("vmdk"), way_out=_CONVERT),
    Container("vmdk-descriptor", _vmdk_descriptor,
              way_out="use its extent file {extents} if it is a flat (raw) extent, or "
                      + _CONVERT),
    Container("vdi", _magic("vdi"), way_out=_CONVERT),
    Container("qed", _magic("qed"), way_out=_CONVERT),
    Container("parallels", _magic("parallels"), way_out=_CONVERT),
    Container("iso9660", _optical,
              way_out="an optical disc image holds files, not a disk: extract them (7z x, "
                      "xorriso -osirrox) or attach it to a VM as a CD"),
]

CONTAINER_NAMES = dict(signatures.CONTAINER_NAMES, iso9660="ISO 9660")


class Identified:
    """A probed file: its container entry (None for raw) and what the probe found."""

    def __init__(self, region: FileRegion, container: Container | None, found: object = None):
        self.region = region
        self.container = container
        self.found = found

    @property
    def name(self) -> str:
        return self.container.name if self.container else "raw"


def identify(region: FileRegion, damaged_ok: bool = False) -> Identified:
    """Run each container's ``detect`` on the open file; refuse formats diskkit cannot read.

    With ``damaged_ok`` (checks), a container whose ``detect`` finds it damaged is still
    returned (``found`` None) when it has a ``check`` to report the damage.
    """
    for entry in CONTAINERS:
        try:
            found = entry.detect(region)
        except CorruptImage:
            if damaged_ok and entry.check is not None:
                return Identified(region, entry)
            raise
        if found is None:
            continue
        if entry.open is None:
            raise Unsupported(_refusal(region.name, entry, found))
        return Identified(region, entry, found)
    return Identified(region, None)


def _refusal(path: str, entry: Container, found) -> str:
    what = CONTAINER_NAMES.get(entry.name, entry.name)
    extents = ", ".join(repr(e) for e in found) if isinstance(found, list) else ""
    return (f"{path}: is a {what} image, which diskkit does not read as a disk; "
            + entry.way_out.format(path=path, extents=extents))


def _open_identified(ident: Identified, writable: bool) -> BlockDevice:
    if ident.container is None:
        return FileDevice(ident.region.name, writable=writable, region=ident.region)
    return ident.container.open(ident.region, ident.found, writable)


def open_region(region: FileRegion, writable: bool = False) -> BlockDevice:
    """The device of an open host file (it then owns ``region``)."""
    return _open_identified(identify(region), writable)


def open_image(path: str, writable: bool = False, allow_device: bool = False) -> BlockDevice:
    """Open ``path`` as a BlockDevice: a raw ``FileDevice``, a VHD's device, or whatever
    container ``CONTAINERS`` recognises. Foreign formats are refused with the way out."""
    region = FileRegion.open(path, writable, allow_device)
    try:
        return open_region(region, writable)
    except BaseException:
        region.close()
        raise


def open_volume(path: str, part: int | None = None, writable: bool = False,
                allow_device: bool = False, sector_size: int | None = None) -> BlockDevice:
    """The image ``path``, or its partition ``part`` (1-based), as one device to close.

    ``sector_size`` reads a raw image with another logical sector size (a VHD always has
    512). The partition view owns the image: closing it closes the file.
    """
    dev = open_image(path, writable, allow_device)
    try:
        if sector_size and sector_size != dev.sector_size:
            if dev.container != "raw":
                raise UsageError(f"{path}: a {dev.container} image always has "
                                 f"{dev.sector_size}-byte sectors")
            dev = SliceDevice(dev, 0, dev.size, name=dev.name, owns_parent=True,
                              sector_size=sector_size)
        if part is None:
            return dev
        from .part import partition_device

        return partition_device(dev, part, owns_parent=True)
    except BaseException:
        dev.close()
        raise


def describe_region(region: FileRegion) -> dict:
    """What the container of an open file says about it, with file size and allocation."""
    out = {"path": region.name, **region.allocation()}
    ident = identify(region)
    entry = ident.container
    if entry is not None and entry.describe is not None:
        out.update(entry.describe(region, ident.found))
    else:
        out.update(_open_identified(ident, False).info())
    return out


def info(path: str, allow_device: bool = False) -> dict:
    """``diskkit vhd info``: what the container says about ``path``; foreign formats are
    refused."""
    region = FileRegion.open(path, False, allow_device)
    try:
        return describe_region(region)
    finally:
        region.close()


def check_region(region: FileRegion) -> Report:
    """Check the container structures of an open file; a raw image is clean."""
    ident = identify(region, damaged_ok=True)
    entry = ident.container
    if entry is not None and entry.check is not None:
        return entry.check(region)
    report = Report(subject=region.name)
    if entry is None:
        report.facts.update(container="raw", virtual_size=region.file_size())
    else:
        dev = _open_identified(ident, False)
        report.facts.update(container=dev.container, virtual_size=dev.size)
    return report


def check(path: str, allow_device: bool = False) -> Report:
    """``diskkit vhd check``: the container's structures; foreign formats are refused."""
    region = FileRegion.open(path, False, allow_device)
    try:
        return check_region(region)
    finally:
        region.close()


def first_data_from(dev: BlockDevice, offset: int) -> int | None:
    """Offset of the first non-zero byte of ``dev`` at or after ``offset``, or None."""
    for start, length in dev.allocated_ranges():
        pos, end = max(start, offset), start + length
        while pos < end:
            n = min(COPY_CHUNK, end - pos)
            data = dev.read_at(pos, n)
            if not is_zero(data):
                return pos + (len(data) - len(data.lstrip(b"\0")))
            pos += n
    return None


def resize_container(path: str, new_size: int, force: bool = False,
                     allow_device: bool = False) -> dict:
    """Change the virtual size of ``path`` in place (the container's own ``resize``).

    Shrinking refuses to cut non-zero data unless ``force``. Partition tables are not
    touched (``diskkit.ops.resize.resize_image`` does the whole disk). Returns old and new
    size.
    """
    with open_image(path, writable=True, allow_device=allow_device) as dev:
        old_size = dev.size
        if new_size < old_size and not force:
            at = first_data_from(dev, new_size)
            if at is not None:
                raise UsageError(f"{dev.name}: shrinking to {new_size} bytes would cut data at "
                                 f"offset {at}; pass force (--force) to cut it")
        dev.resize(new_size)
        return {"path": str(path), "container": dev.container, "old_size": old_size,
                "new_size": new_size}
