"""FAT12/16/32: ``mkfs`` a volume, open it as ``FatFS`` to read and write files, ``check`` it, ``repair`` what an interrupted write leaves."""

from .check import check, esp_problems, repair
from .directory import MAX_FILE_SIZE, check_file_size
from .fs import FatFS
from .mkfs import mkfs

__all__ = ["mkfs", "FatFS", "check", "esp_problems", "repair", "MAX_FILE_SIZE", "check_file_size"]
