"""File names on FAT: 8.3 short names, VFAT long names (LFN) and the NT lowercase flags.

Pure functions only. A name that fits 8.3 with a single case in the base and in the extension
is stored as a short entry with the lowercase flags (``grub.cfg`` -> ``GRUB    CFG`` + 0x18);
anything else gets a Windows-style ``BASE~N.EXT`` short name plus LFN entries. Short names and
labels are bytes in an OEM code page (cp850 by default, as mkfs.fat and mtools assume), so
``NAÏVE-~1.TXT`` is stored with cp850's 0xD8 for the Ï and found by that name again.
"""

from __future__ import annotations

import re
import struct
import zlib

from ..errors import UsageError

NT_LOWER_BASE = 0x08
NT_LOWER_EXT = 0x10
ATTR_LFN = 0x0F
LFN_LAST = 0x40
LFN_CHARS_PER_ENTRY = 13
MAX_LONG_NAME = 255

# Characters a long name may hold but a short name may not (they become "_").
_LOSSY_SHORT = set("+,;=[]")
_SHORT_EXTRA = set("$%'-_@~`!(){}^#&")
DEFAULT_CODEPAGE = "cp850"  # what mkfs.fat, mtools and Western Windows use
# ASCII bytes a short name cannot hold -> "_" (a table for bytes.translate)
_ASCII_SHORT = bytes(i if chr(i).isalnum() or chr(i) in _SHORT_EXTRA else ord("_")
                     for i in range(256))
_LFN_ENTRY = struct.Struct("<B10sBBB12sH4s")


_BAD_LONG = re.compile(r'["*/:<>?\\|\x00-\x1f\x7f]')


def check_long_name(name: str) -> None:
    """Raise UsageError unless ``name`` can be stored as one FAT file name."""
    if not name or name in (".", ".."):
        raise UsageError(f"invalid FAT file name {name!r}")
    if _BAD_LONG.search(name):
        bad = "".join(sorted(set(_BAD_LONG.findall(name))))
        raise UsageError(f"invalid FAT file name {name!r}: characters {bad!r} are not allowed")
    if name[-1] in " .":
        raise UsageError(f"invalid FAT file name {name!r}: may not end with a space or a dot")
    if len(name) > MAX_LONG_NAME // 2 and len(name.encode("utf-16-le")) // 2 > MAX_LONG_NAME:
        raise UsageError(f"invalid FAT file name {name[:40]!r}...: longer than {MAX_LONG_NAME} characters")


def codepage(name: str) -> str:
    """The codec for an OEM code page given as ``cp850``, ``850`` or ``CP850``; UsageError if
    Python has none or it cannot hold 8.3 names (it must keep ASCII as ASCII)."""
    import codecs

    codec = f"cp{name}" if name.isdigit() else name.lower()
    try:
        codec = codecs.lookup(codec).name
    except LookupError:
        raise UsageError(f"unknown code page {name!r} (e.g. cp850, cp437, cp936)") from None
    try:
        ascii_ok = "AZ09~_".encode(codec) == b"AZ09~_"
    except (UnicodeError, LookupError):
        ascii_ok = False
    if not ascii_ok:
        raise UsageError(f"code page {name!r} cannot hold FAT short names")
    return codec


def _oem_char(c: str, codec: str) -> bytes | None:
    """The bytes of one short-name character (already uppercase) in the OEM code page, or None
    when a short name cannot hold it."""
    if c.isascii():
        return c.encode() if c.isalnum() or c in _SHORT_EXTRA else None
    try:
        raw = c.encode(codec)
    except UnicodeEncodeError:
        return None
    # every byte >= 0x80: a double-byte character whose second byte is ASCII would read as a
    # lowercase or forbidden character to checkers that know no code page (fsck.fat)
    return raw if raw and min(raw) >= 0x80 else None


def _single_case(part: str) -> bool | None:
    """True if all letters are lowercase, False if all uppercase (or none), None if mixed."""
    letters = [c for c in part if c.isalpha()]
    if letters and all(c.islower() for c in letters):
        return True
    if all(c.isupper() for c in letters):
        return False
    return None


def pack_short(base: bytes, ext: bytes) -> bytes:
    """11-byte on-disk short name; a leading 0xE5 is stored as 0x05 (0xE5 marks deletion)."""
    raw = base.ljust(8, b" ") + ext.ljust(3, b" ")
    return b"\x05" + raw[1:] if raw[0] == 0xE5 else raw


def direct_short_name(name: str) -> tuple[bytes, int] | None:
    """``(raw11, nt_flags)`` if ``name`` is stored exactly by a short entry alone, else None.

    Only ASCII names qualify: a short name in a code page reads differently elsewhere.
    """
    if name.startswith(".") or not name.isascii():
        return None
    base, dot, ext = name.partition(".")
    if not base or len(base) > 8 or len(ext) > 3 or "." in ext or (dot and not ext):
        return None
    if not all(_oem_char(c, "ascii") for c in (base + ext).upper()):
        return None
    base_lower, ext_lower = _single_case(base), _single_case(ext)
    if base_lower is None or ext_lower is None:
        return None
    flags = (NT_LOWER_BASE if base_lower else 0) | (NT_LOWER_EXT if ext_lower else 0)
    return pack_short(base.upper().encode(), ext.upper().encode()), flags


def _short_basis(name: str, codec: str) -> tuple[bytes | list[bytes], bytes | list[bytes]]:
    """Windows' basis name in the OEM code page: uppercase, spaces and extra dots dropped,
    characters a short name cannot hold become '_'. Bytes where every character is one byte,
    else a list of each character's bytes (a double-byte code page)."""
    def clean(text: str) -> bytes | list[bytes]:
        if text.isascii():  # the common case, without a call per character
            return text.encode().upper().replace(b" ", b"").replace(b".", b"").translate(
                _ASCII_SHORT)
        text = text.upper().replace(" ", "").replace(".", "")
        chars = [_oem_char(c, codec) or b"_" for c in text]
        return b"".join(chars) if all(len(c) == 1 for c in chars) else chars

    stripped = name.lstrip(".")
    base, dot, ext = stripped.rpartition(".")
    if not dot:
        base, ext = stripped, ""
    return clean(base) or b"_", clean(ext)


def _fit(chars: bytes | list[bytes], limit: int) -> bytes:
    """As many whole characters as fit in ``limit`` bytes (a DBCS character is never split)."""
    if isinstance(chars, bytes):
        return chars[:limit]
    out = b""
    for c in chars:
        if len(out) + len(c) > limit:
            break
        out += c
    return out


def generate_short_name(name: str, taken, codec: str = DEFAULT_CODEPAGE) -> bytes:
    """A unique ``BASE~N.EXT`` short name for ``name``; ``taken`` holds raw11 names in use.

    Windows' order: BASE~1 .. BASE~4; then two basis characters and a hash of the long name
    (~1 .. ~9), so that thousands of similar names do not probe thousands of tails each; then
    longer tails. Every probe is one set lookup."""
    base, ext_chars = _short_basis(name, codec)
    ext = _fit(ext_chars, 3).ljust(3, b" ")

    def free(short: bytes) -> bytes | None:
        candidate = short.ljust(8, b" ") + ext
        if candidate[0] == 0xE5:  # stored as 0x05: 0xE5 marks a deleted entry
            candidate = b"\x05" + candidate[1:]
        return None if candidate in taken else candidate

    six = _fit(base, 6)
    if free(six + b"~4"):  # else all four are likely taken
        for n in range(1, 5):
            if found := free(six + b"~%d" % n):
                return found
    two = _fit(base, 2) + b"%04X" % (zlib.crc32(name.encode("utf-16-le")) & 0xFFFF)
    for n in range(1, 10):
        if found := free(two + b"~%d" % n):
            return found
    for n in range(5, 1_000_000):
        tail = b"~%d" % n
        if found := free(_fit(base, 8 - len(tail)) + tail):
            return found
    raise UsageError(f"no free short name for {name!r}")


def short_name_for(name: str, taken, codec: str = DEFAULT_CODEPAGE) -> tuple[bytes, int, bool]:
    """``(raw11, nt_flags, needs_lfn)`` for a new entry called ``name``."""
    direct = direct_short_name(name)
    if direct is not None and direct[0] not in taken:
        return direct[0], direct[1], False
    return generate_short_name(name, taken, codec), 0, True


def decode_short(raw: bytes, nt_flags: int, codec: str = DEFAULT_CODEPAGE) -> str:
    """The name a short entry shows, with the NT lowercase flags applied."""
    if raw[0] == 0x05:
        raw = b"\xe5" + raw[1:]
    if raw.isascii():
        codec = "ascii"  # the same characters in every code page, decoded in C
    base = raw[:8].rstrip(b" ").decode(codec, "replace")
    ext = raw[8:11].rstrip(b" ").decode(codec, "replace")
    if nt_flags & NT_LOWER_BASE:
        base = base.lower()
    if nt_flags & NT_LOWER_EXT:
        ext = ext.lower()
    return f"{base}.{ext}" if ext else base


def short_display(raw: bytes, codec: str = DEFAULT_CODEPAGE) -> str:
    """The 8.3 name as stored (uppercase), e.g. ``LONGFI~1.TXT``."""
    return decode_short(raw, 0, codec)


_ROTATE_RIGHT = bytes(((s & 1) << 7) | (s >> 1) for s in range(256))


def lfn_checksum(raw11: bytes) -> int:
    """The short-name checksum every LFN entry of a name carries: rotate right, add."""
    s = 0
    for b in raw11:
        s = (_ROTATE_RIGHT[s] + b) & 0xFF
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


def validate_label(label: str, codec: str = DEFAULT_CODEPAGE) -> bytes:
    """An 11-byte volume label: uppercase, short-name characters (in the code page) and spaces."""
    text = label.upper()
    chars = [b" " if c == " " else _oem_char(c, codec) for c in text]
    raw = b"".join(c for c in chars if c)
    if not text or len(raw) > 11:
        raise UsageError(f"invalid volume label {label!r}: 1 to 11 characters")
    if None in chars or text[0] == " ":
        raise UsageError(f"invalid volume label {label!r}: use letters, digits, spaces and "
                         f"$%'-_@~`!(){{}}^#&")
    return raw.ljust(11, b" ")


def decode_label(raw: bytes, codec: str = DEFAULT_CODEPAGE) -> str | None:
    """A label field's text, trailing spaces cut; None when it is blank."""
    if raw[:1] == b"\x05":
        raw = b"\xe5" + raw[1:]
    text = raw.decode(codec, "replace").rstrip(" ")
    return text or None
