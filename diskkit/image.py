"""Open any image file as a BlockDevice, whatever its container.

Detection looks at the file's last 512 (or 511) bytes and its first 512 for a VHD footer
(``conectix``); anything else is a raw image. Every device has ``.container`` set to
``raw``, ``fixed`` or ``dynamic``. Differencing VHDs are recognised and refused with a
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


def open_image(path: str, writable: bool = False, allow_device: bool = False):
    """Open ``path`` as a BlockDevice: RawDevice, FixedDevice or DynamicDevice."""
    found = detect(path, allow_device)
    if found is None:
        return RawDevice(str(path), writable=writable, allow_device=allow_device)
    from .vhd import open_vhd

    return open_vhd(str(path), writable=writable, allow_device=allow_device, found=found)
