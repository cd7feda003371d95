"""Fixed VHDs: the virtual disk's bytes as-is, followed by the 512-byte footer."""

from __future__ import annotations

from ..blockdev import FileDevice, FileRegion, punch_hole
from ..errors import UsageError
from .footer import FOOTER_SIZE, Footer, build_footer, check_virtual_size, footer_info


class FixedDevice(FileDevice):
    """A fixed VHD: a raw file view limited to the disk, so the footer is never touched.

    Holes of the host file are the unallocated ranges; ``write_zeroes`` punches holes.
    """

    container = "fixed"

    def __init__(self, region: FileRegion, footer: Footer, footer_offset: int,
                 writable: bool = False):
        super().__init__(region.name, writable=writable, size=footer.current_size, region=region)
        self.footer = footer
        self.footer_offset = footer_offset

    def resize(self, new_size: int) -> None:
        """New footer at the new end first, then drop or zero what lies between.

        Growing: the file ends with the new footer from the first write on; the old footer
        sector (now inside the disk) is zeroed next. Shrinking: the new footer overwrites data
        being cut while the old footer still ends the file, then the file is truncated.
        """
        check_virtual_size(new_size)
        if not self.writable:
            raise UsageError(f"{self.name}: opened read-only")
        if new_size == self.size:
            return
        region = self.region
        footer = self.footer.resized(new_size)
        region.pwrite(new_size, build_footer(footer))
        region.sync()
        if new_size > self.size:
            stale_end = min(self.footer_offset + FOOTER_SIZE, new_size)
            if not punch_hole(region.fd, self.size, stale_end - self.size):
                region.pwrite(self.size, bytes(stale_end - self.size))
        else:
            region.truncate(new_size + FOOTER_SIZE)
        region.sync()
        self.footer, self.footer_offset, self.size = footer, new_size, new_size

    def info(self) -> dict:
        return footer_info(self.footer)
