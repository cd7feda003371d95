"""Open any image file as a BlockDevice, whatever its container.

Detection looks for the VHDX identifier (``vhdxfile`` at offset 0), then at the file's last
512 (or 511) bytes and its first 512 for a VHD footer (``conectix``); anything else is a raw
image. Every device has ``.container`` set to ``raw``, ``fixed``, ``dynamic`` or ``vhdx``. Differencing VHDs are recognised and refused with a
message naming the parent.
"""

from __future__ import annotations

from .blockdev import FileDevice, FileRegion, open_host_file


class RawDevice(FileDevice):
    """A raw image (or, with ``allow_device``, a real disk)."""

    container = "raw"


def detect(path: str, allow_device: bool = False):
    """The VHD ``Probe`` of ``path``, or None for a raw image."""
    from .vhd import probe

    fh = open_host_file(str(path), False, allow_device)
    try:
        return probe(FileRegion(fh, str(path)))
    finally:
        fh.close()


def is_vhdx(path: str, allow_device: bool = False) -> bool:
    """True when ``path`` starts with the VHDX file type identifier."""
    from .vhdx import is_vhdx as signature

    fh = open_host_file(str(path), False, allow_device)
    try:
        return signature(FileRegion(fh, str(path)).pread(0, 8))
    finally:
        fh.close()


def open_image(path: str, writable: bool = False, allow_device: bool = False):
    """Open ``path`` as a BlockDevice: RawDevice, FixedDevice, DynamicDevice or VhdxDevice."""
    if is_vhdx(path, allow_device):
        from .vhdx import open_vhdx

        return open_vhdx(str(path), writable=writable, allow_device=allow_device)
    found = detect(path, allow_device)
    if found is None:
        return RawDevice(str(path), writable=writable, allow_device=allow_device)
    from .vhd import open_vhd

    return open_vhd(str(path), writable=writable, allow_device=allow_device, found=found)
