"""Fixed VHDs: the virtual disk's bytes as-is, followed by the 512-byte footer."""

from __future__ import annotations

from ..image import RawDevice
from .footer import Footer


class FixedDevice(RawDevice):
    """A fixed VHD: a raw file view limited to the disk, so the footer is never touched.

    Holes of the host file are the unallocated ranges; ``write_zeroes`` punches holes.
    """

    container = "fixed"

    def __init__(self, path: str, footer: Footer, footer_offset: int, writable: bool = False,
                 allow_device: bool = False):
        super().__init__(path, writable=writable, allow_device=allow_device,
                         size=footer.current_size)
        self.footer = footer
        self.footer_offset = footer_offset

    def resize(self, new_size: int) -> None:
        """Container resizes go through ``diskkit.vhd.resize`` (it orders footer writes)."""
        from ..errors import Unsupported

        raise Unsupported(f"{self.name}: resize a fixed VHD with diskkit.vhd.resize()")
