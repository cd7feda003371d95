"""GUID and UUID text forms, without the ``uuid`` module (its import pulls in ``platform``,
about 10 ms of every command's start-up).

Two byte orders exist on disk: RFC 4122 (big-endian fields: VHD unique ids, ext, XFS, LUKS)
and Microsoft's mixed-endian GUIDs (the first three fields little-endian: GPT).
"""

from __future__ import annotations

import re

from .errors import UsageError

_GUID = r"^\{?[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}\}?$"  # compiled on first use


def uuid_text(raw: bytes) -> str:
    """16 bytes in RFC 4122 order -> ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``."""
    h = bytes(raw).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def guid_text(raw: bytes) -> str:
    """16 bytes of a mixed-endian GUID (GPT) -> its canonical lowercase text."""
    raw = bytes(raw)
    return uuid_text(raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:16])


def guid_bytes(text: str) -> bytes:
    """Canonical GUID text -> the 16 mixed-endian bytes GPT stores."""
    raw = bytes.fromhex(normalize(text).replace("-", ""))
    return raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:16]


def is_guid(text: str) -> bool:
    """GUID text with or without braces and dashes, any case."""
    return bool(re.match(_GUID, text.strip()))


def normalize(text: str) -> str:
    """``{C12A7328-...}`` or bare hex -> canonical lowercase ``8-4-4-4-12``."""
    key = text.strip()
    if not re.match(_GUID, key):
        raise UsageError(f"invalid GUID {text!r}")
    return uuid_text(bytes.fromhex(key.strip("{}").replace("-", "")))


def version4(raw: bytes) -> str:
    """16 bytes made into a version-4 (random) UUID's text."""
    raw = bytearray(raw)
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return uuid_text(raw)
