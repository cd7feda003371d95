"""Shared helpers for the boot tests: synthetic facts and partition stand-ins."""

from __future__ import annotations

from dataclasses import dataclass

from diskkit.boot.target import VhdFacts


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
