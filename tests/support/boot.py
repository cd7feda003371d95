"""The boot tests' inputs: synthetic facts, partition stand-ins, and disk images built with
diskkit's own APIs (checked by oracles in the tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from diskkit import vhd
from diskkit.boot.target import VhdFacts
from diskkit.fat import FatFS, mkfs
from diskkit.image import open_image
from diskkit.part import add_partition, init_gpt, partition_device
from diskkit.units import MiB


def efi_stub(size: int, machine: int = 0x8664, subsystem: int = 10) -> bytes:
    """A file with the PE/COFF headers a firmware checks (default: an x86-64 EFI
    application), then random filler: what ``esp build --loader`` accepts."""
    pe = 0x80
    head = bytearray(size)
    head[:2] = b"MZ"
    head[0x3C:0x40] = pe.to_bytes(4, "little")
    head[pe:pe + 4] = b"PE\0\0"
    head[pe + 4:pe + 6] = machine.to_bytes(2, "little")
    head[pe + 24:pe + 26] = (0x20B).to_bytes(2, "little")
    head[pe + 24 + 68:pe + 24 + 70] = subsystem.to_bytes(2, "little")
    head[0x200:] = os.urandom(size - 0x200)
    return bytes(head)


def payload_vhd(path: str, marker: str, esp_size: int = 8 * MiB, size: int = 40 * MiB) -> dict:
    """A fixed VHD like a RAMOS image: GPT, an ESP, and a 'Windows' partition (FAT here)
    holding ``/marker.txt``. Returns the partition indexes."""
    vhd.create(path, size, vhd_type="fixed")
    with open_image(path, writable=True) as dev:
        init_gpt(dev)
        esp = add_partition(dev, "esp", esp_size, name="EFI system partition")
        win = add_partition(dev, "windows", None, name="Basic data partition")
        mkfs(partition_device(dev, esp.index), label="SYSTEM")
        win_dev = partition_device(dev, win.index)
        mkfs(win_dev, label="WINDOWS")
        fs = FatFS(win_dev)
        fs.write_file("/marker.txt", marker.encode() + b"\n")
        fs.close()
    return {"esp": esp.index, "windows": win.index}


def outer_disk(path: str, payload: str, payload_dest: str, esp_size: int = 32 * MiB,
               data_size: int = 80 * MiB) -> None:
    """A raw GPT disk: an empty FAT ESP (filled later by ``esp build``) and a FAT32 data
    partition holding ``payload`` at ``payload_dest``."""
    with open(path, "wb") as fh:
        fh.truncate(esp_size + data_size + 2 * MiB)
    with open_image(path, writable=True) as dev:
        init_gpt(dev)
        esp = add_partition(dev, "esp", esp_size, name="EFI system partition")
        data = add_partition(dev, "windows", None, name="data")
        mkfs(partition_device(dev, esp.index), label="ESP")
        data_dev = partition_device(dev, data.index)
        mkfs(data_dev, fat_type=32, label="DATA")
        fs = FatFS(data_dev)
        fs.mkdir(os.path.dirname(payload_dest), parents=True)
        fs.write_file(payload_dest, payload)
        fs.close()


@dataclass
class FakePart:
    index: int
    start: int
    size: int
    type_guid: str | None = None
    type_code: int | None = None
    guid: str | None = None
    name: str = ""


def facts(container: str = "fixed", table: str = "gpt", offset: int = 135266304,
          esp: int | None = 1) -> VhdFacts:
    return VhdFacts(image="payload.vhd", container=container, disk_size=1 << 30, table=table,
                    disk_guid="11111111-2222-3333-4444-555555555555" if table == "gpt" else None,
                    windows_index=3, windows_offset=offset, windows_size=900 << 20,
                    windows_guid="aaaaaaaa-2222-3333-4444-555555555555" if table == "gpt" else None,
                    esp_index=esp)
