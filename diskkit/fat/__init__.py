"""FAT12/16/32: ``mkfs`` a volume, open it as ``FatFS`` to read and write files, ``check`` it."""

from .check import check
from .fs import FatFS
from .mkfs import mkfs

__all__ = ["mkfs", "FatFS", "check"]
