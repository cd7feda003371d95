"""NTFS, read-only: open a volume on any BlockDevice as ``NtfsVolume`` to list directories,
stat and read files (sparse, LZNT1-compressed, CompactOS), and see which clusters are in use."""

from .volume import Entry, NtfsVolume

__all__ = ["NtfsVolume", "Entry"]
