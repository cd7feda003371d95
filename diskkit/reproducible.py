"""Reproducible outputs: the one reader of ``SOURCE_DATE_EPOCH``.

Unset, new images get the current time and random identifiers. Set (reproducible-builds.org),
every timestamp is that time and every identifier (VHD unique id, GPT GUIDs, MBR disk
signature, FAT volume serial) is derived from it and from what the caller says makes the
object distinct (its size, position, name), so building the same thing twice gives the same
bytes.
"""

from __future__ import annotations

import os
import time

from .errors import UsageError
from .guid import version4


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` as seconds since 1970, or None when unset or empty."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not an integer") from None


def now() -> float:
    """The time to record in a new structure: ``SOURCE_DATE_EPOCH`` if set, else the clock."""
    epoch = source_date_epoch()
    return time.time() if epoch is None else epoch


def unique_bytes(length: int, *context) -> bytes:
    """``length`` random bytes, or with ``SOURCE_DATE_EPOCH`` set a digest of it and
    ``context`` (at most 32 bytes)."""
    epoch = source_date_epoch()
    if epoch is None:
        return os.urandom(length)
    import hashlib  # only here: loading OpenSSL costs every command's start-up ~3 ms

    text = "|".join(map(str, ("diskkit", epoch, *context)))
    return hashlib.sha256(text.encode()).digest()[:length]


def unique_uuid(*context) -> str:
    """A version-4 UUID string: random, or derived as ``unique_bytes`` is."""
    return version4(unique_bytes(16, *context))
