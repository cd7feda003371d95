"""File names on FAT: 8.3 short names, VFAT long names (LFN) and the NT lowercase flags.

Pure functions only. A name that fits 8.3 with a single case in the base and in the extension
is stored as a short entry with the lowercase flags (``grub.cfg`` -> ``GRUB    CFG`` + 0x18);
anything else gets a Windows-style ``BASE~N.EXT`` short name plus LFN entries.
"""

from __future__ import annotations

import struct
import zlib

from ..errors import UsageError

NT_LOWER_BASE = 0x08
NT_LOWER_EXT = 0x10
ATTR_LFN = 0x0F
LFN_LAST = 0x40
LFN_CHARS_PER_ENTRY = 13
MAX_LONG_NAME = 255

# Characters Windows refuses in any file name, besides control characters.
_INVALID_LONG = set('"*/:<>?\\|')
# Characters a long name may hold but a short name may not (they become "_").
_LOSSY_SHORT = set("+,;=[]")
_SHORT_EXTRA = set("$%'-_@~`!(){}^#&")
_LFN_ENTRY = struct.Struct("<B10sBBB12sH4s")


def check_long_name(name: str) -> None:
    """Raise UsageError unless ``name`` can be stored as one FAT file name."""
    if not name or name in (".", ".."):
        raise UsageError(f"invalid FAT file name {name!r}")
    bad = sorted({c for c in name if c in _INVALID_LONG or ord(c) < 0x20 or ord(c) == 0x7F})
    if bad:
        raise UsageError(f"invalid FAT file name {name!r}: characters {''.join(bad)!r} are not allowed")
    if name[-1] in " .":
        raise UsageError(f"invalid FAT file name {name!r}: may not end with a space or a dot")
    if len(name.encode("utf-16-le")) // 2 > MAX_LONG_NAME:
        raise UsageError(f"invalid FAT file name {name[:40]!r}...: longer than {MAX_LONG_NAME} characters")


def _short_char_ok(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in _SHORT_EXTRA)


def _single_case(part: str) -> bool | None:
    """True if all letters are lowercase, False if all uppercase (or none), None if mixed."""
    letters = [c for c in part if c.isalpha()]
    if letters and all(c.islower() for c in letters):
        return True
    if all(c.isupper() for c in letters):
        return False
    return None


def pack_short(base: str, ext: str) -> bytes:
    """11-byte on-disk short name; a leading 0xE5 is stored as 0x05 (0xE5 marks deletion)."""
    raw = base.encode("ascii").ljust(8, b" ") + ext.encode("ascii").ljust(3, b" ")
    return b"\x05" + raw[1:] if raw[0] == 0xE5 else raw


def direct_short_name(name: str) -> tuple[bytes, int] | None:
    """``(raw11, nt_flags)`` if ``name`` is stored exactly by a short entry alone, else None."""
    if name.startswith("."):
        return None
    base, dot, ext = name.partition(".")
    if not base or len(base) > 8 or len(ext) > 3 or "." in ext or (dot and not ext):
        return None
    if not all(_short_char_ok(c) for c in base + ext):
        return None
    base_lower, ext_lower = _single_case(base), _single_case(ext)
    if base_lower is None or ext_lower is None:
        return None
    flags = (NT_LOWER_BASE if base_lower else 0) | (NT_LOWER_EXT if ext_lower else 0)
    return pack_short(base.upper(), ext.upper()), flags


def _short_basis(name: str) -> tuple[str, str]:
    """Windows' basis name: uppercase, spaces and extra dots dropped, unusable chars -> '_'."""
    def clean(text: str) -> str:
        out = []
        for c in text.upper().replace(" ", ""):
            if _short_char_ok(c):
                out.append(c)
            elif c != ".":
                out.append("_")
        return "".join(out)

    stripped = name.lstrip(".")
    base, dot, ext = stripped.rpartition(".")
    if not dot:
        base, ext = stripped, ""
    return clean(base)[:8] or "_", clean(ext)[:3]


def generate_short_name(name: str, taken) -> bytes:
    """A unique ``BASE~N.EXT`` short name for ``name``; ``taken`` holds raw11 names in use."""
    base, ext = _short_basis(name)

    def candidates():
        for n in range(1, 5):  # BASE~1 .. BASE~4, as Windows does first
            yield base[:6] + f"~{n}"
        # then, like Windows, two basis characters and a hash of the long name, so that
        # thousands of similar names do not probe thousands of tails each
        digest = f"{zlib.crc32(name.encode('utf-16-le')) & 0xFFFF:04X}"
        for n in range(1, 10):
            yield base[:2] + digest + f"~{n}"
        for n in range(5, 1_000_000):
            tail = f"~{n}"
            yield base[: 8 - len(tail)] + tail

    for short in candidates():
        candidate = pack_short(short, ext)
        if candidate not in taken:
            return candidate
    raise UsageError(f"no free short name for {name!r}")


def short_name_for(name: str, taken) -> tuple[bytes, int, bool]:
    """``(raw11, nt_flags, needs_lfn)`` for a new entry called ``name``."""
    direct = direct_short_name(name)
    if direct is not None and direct[0] not in taken:
        return direct[0], direct[1], False
    return generate_short_name(name, taken), 0, True


def decode_short(raw: bytes, nt_flags: int) -> str:
    """The name a short entry shows, with the NT lowercase flags applied."""
    if raw[0] == 0x05:
        raw = b"\xe5" + raw[1:]
    base = raw[:8].rstrip(b" ").decode("cp437")
    ext = raw[8:11].rstrip(b" ").decode("cp437")
    if nt_flags & NT_LOWER_BASE:
        base = base.lower()
    if nt_flags & NT_LOWER_EXT:
        ext = ext.lower()
    return f"{base}.{ext}" if ext else base


def short_display(raw: bytes) -> str:
    """The 8.3 name as stored (uppercase), e.g. ``LONGFI~1.TXT``."""
    return decode_short(raw, 0)


def lfn_checksum(raw11: bytes) -> int:
    """The short-name checksum every LFN entry of a name carries."""
    s = 0
    for b in raw11:
        s = (((s & 1) << 7) + (s >> 1) + b) & 0xFF
    return s


def lfn_entries(name: str, raw11: bytes) -> bytes:
    """The LFN slots for ``name`` in on-disk order (highest sequence number first)."""
    units = name.encode("utf-16-le")
    count = -(-len(units) // (2 * LFN_CHARS_PER_ENTRY))
    padded = units
    if len(padded) < count * 26:
        padded += b"\x00\x00"
        padded += b"\xff" * (count * 26 - len(padded))
    checksum = lfn_checksum(raw11)
    out = []
    for seq in range(count, 0, -1):
        chunk = padded[(seq - 1) * 26: seq * 26]
        order = seq | (LFN_LAST if seq == count else 0)
        out.append(_LFN_ENTRY.pack(order, chunk[0:10], ATTR_LFN, 0, checksum, chunk[10:22], 0,
                                   chunk[22:26]))
    return b"".join(out)


def lfn_slot_count(name: str) -> int:
    return -(-len(name.encode("utf-16-le")) // (2 * LFN_CHARS_PER_ENTRY))


def lfn_piece(slot: bytes) -> tuple[int, int, bytes]:
    """``(order byte, checksum, 26 bytes of UTF-16)`` from one LFN slot (padding kept)."""
    order, n1, _attr, _type, checksum, n2, _cluster, n3 = _LFN_ENTRY.unpack(slot)
    return order, checksum, n1 + n2 + n3


def join_lfn(pieces: list[bytes]) -> str:
    """Long name from pieces in sequence order 1..N, cut at the NUL terminator.

    Pieces are joined before decoding: a surrogate pair may straddle two entries.
    """
    units = b"".join(pieces)
    for end in range(0, len(units), 2):
        if units[end:end + 2] == b"\x00\x00":
            units = units[:end]
            break
    return units.decode("utf-16-le", "replace")


def fold(name: str) -> str:
    """Key for FAT's case-insensitive lookup."""
    return name.casefold()


def short_name_problem(raw11: bytes) -> str | None:
    """Why a stored short name is invalid, or None."""
    if raw11[0] == 0x20:
        return "short name starts with a space"
    for b in raw11:
        if b < 0x20 and not (b == 0x05 and raw11[0] == 0x05):
            return f"short name holds control character 0x{b:02x}"
        if 0x61 <= b <= 0x7A:
            return "short name holds lowercase letters"
        if chr(b) in '"*+,./:;<=>?[\\]|':
            return f"short name holds invalid character {chr(b)!r}"
    return None


def validate_label(label: str) -> bytes:
    """An 11-byte volume label: uppercase, short-name characters and spaces only."""
    text = label.upper()
    if not text or len(text) > 11:
        raise UsageError(f"invalid volume label {label!r}: 1 to 11 characters")
    if not all(c == " " or _short_char_ok(c) for c in text) or text[0] == " ":
        raise UsageError(f"invalid volume label {label!r}: use letters, digits, spaces and "
                         f"$%'-_@~`!(){{}}^#&")
    return text.encode("ascii").ljust(11, b" ")
