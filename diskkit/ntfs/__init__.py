"""NTFS, read-only: open a volume on any BlockDevice as ``NtfsVolume`` to list directories,
stat and read files (sparse, LZNT1-compressed, CompactOS), see which clusters are in use, and ``check`` a volume."""

from .check import check
from .volume import Entry, NtfsVolume

__all__ = ["NtfsVolume", "Entry", "check"]
