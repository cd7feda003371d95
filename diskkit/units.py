"""Human sizes <-> bytes.

Binary multiples are the default because disk tools (qemu-img, sgdisk, diskpart) use them:
``5G`` and ``5GiB`` are both 5 * 2**30. The explicit SI spellings ``KB MB GB TB`` are decimal.
A trailing ``s`` counts 512-byte sectors (``2048s``).
"""

import re

from .errors import UsageError

KiB = 1024
MiB = 1024**2
GiB = 1024**3
TiB = 1024**4

_BINARY = {"": 1, "K": KiB, "M": MiB, "G": GiB, "T": TiB, "P": 1024**5}
_DECIMAL = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15}
_SIZE = r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$"  # compiled on first use (re caches it)


def parse_size(text: str | int, sector_size: int = 512) -> int:
    """Parse ``512``, ``64M``, ``5G``, ``1.5T``, ``100MiB``, ``4GB``, ``2048s`` into bytes."""
    if isinstance(text, int):
        return text
    match = re.match(_SIZE, str(text))
    if not match:
        raise UsageError(f"invalid size {text!r} (examples: 512, 64M, 5G, 1.5T, 100MiB, 2048s)")
    number, suffix = match.groups()
    upper = suffix.upper()
    if upper in ("S", "SECTOR", "SECTORS"):
        multiplier = sector_size
    elif upper in _DECIMAL:
        multiplier = _DECIMAL[upper]
    else:
        key = "" if upper == "B" else upper[:-2] if upper.endswith("IB") else upper
        if key not in _BINARY:
            raise UsageError(f"invalid size {text!r}: unknown unit {suffix!r}")
        multiplier = _BINARY[key]
    value = float(number) * multiplier if "." in number else int(number) * multiplier
    if value != int(value):
        raise UsageError(f"invalid size {text!r}: not a whole number of bytes")
    return int(value)


def parse_rate(text: str) -> float:
    """Parse a transfer rate such as ``1GB/s`` or ``500MiB/s`` into bytes per second."""
    body = str(text).strip()
    if body.lower().endswith("/s"):
        body = body[:-2]
    match = re.match(_SIZE, body)
    if not match:
        raise UsageError(f"invalid rate {text!r} (examples: 1GB/s, 500MiB/s)")
    number, suffix = match.groups()
    return float(number) * (parse_size("1" + suffix) if suffix else 1)


def format_size(n: int) -> str:
    """``5368709120`` -> ``5 GiB``; ``1572864`` -> ``1.5 MiB``; small values stay in bytes."""
    for unit, factor in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if abs(n) >= factor:
            value = n / factor
            text = f"{value:.2f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{n} B"
