"""diskkit: disk images (VHD, GPT/MBR, FAT) and UEFI RAM-boot media, in pure Python."""

__version__ = "0.1.0"
