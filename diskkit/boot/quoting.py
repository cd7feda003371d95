"""Quoting user text (titles, paths) safely into the three config languages we emit.

Each loader parses its config differently, so each gets its own quoter:

* GRUB script (grub.cfg): a single-quoted word is fully literal; a single quote is written
  as ``'\\''`` (close, escaped quote, reopen), exactly as in POSIX sh.
* grub4dos ``menu.lst``: no quoting at all; a space inside a file name is escaped as
  ``\\ `` and a title runs to the end of its line.
* cmd.exe batch files: values go inside double quotes, which make ``& | < > ^`` literal;
  ``%`` must still be doubled, and ``"`` cannot appear at all (Windows forbids it in
  file names; we refuse it in titles).

Control characters (newlines above all) could end a line early and smuggle commands into
every one of these languages, so they are refused everywhere.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import UsageError

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Characters Windows forbids in a path component (the drive colon is split off first).
_WINDOWS_FORBIDDEN = set('<>:"|?*')


def check_text(value: str, what: str) -> str:
    """Refuse control characters, which would break a config line."""
    if _CONTROL.search(value):
        raise UsageError(f"{what} {value!r}: contains a control character (newline, tab, ...)")
    if not value:
        raise UsageError(f"{what}: must not be empty")
    return unicodedata.normalize("NFC", value)


def comment_text(value) -> str:
    """Text for a comment line (image names): control characters become ``?``."""
    return _CONTROL.sub("?", str(value))


def grub_word(value: str) -> str:
    """One literal GRUB script word."""
    return "'" + value.replace("'", "'\\''") + "'"


def menulst_path(path: str) -> str:
    """A grub4dos file name: spaces escaped with a backslash."""
    return path.replace(" ", "\\ ")


def menulst_title(title: str) -> str:
    """A grub4dos title; a backslash is doubled so ``\\n`` never starts a help line."""
    return title.replace("\\", "\\\\")


def cmd_quote(value: str, what: str = "value") -> str:
    """One double-quoted cmd.exe argument that reaches the program unchanged."""
    if '"' in value:
        raise UsageError(f"{what} {value!r}: a double quote cannot pass safely through cmd.exe")
    return '"' + value.replace("%", "%%") + '"'


def split_drive(path: str) -> tuple[str | None, str]:
    """``D:\\ramos\\win.vhd`` -> (``D:``, ``/ramos/win.vhd``); a bare path keeps drive None."""
    match = re.match(r"^([A-Za-z]):(.*)$", path)
    if match:
        return match.group(1).upper() + ":", match.group(2)
    return None, path


def normalize_file_path(path: str, what: str = "path") -> tuple[str | None, str]:
    """Validate a file path on a partition; return (drive or None, ``/a/b/c`` form).

    Accepts ``/ramos/win.vhd``, ``\\ramos\\win.vhd`` and ``D:\\ramos\\win.vhd``.
    """
    path = check_text(path, what)
    drive, rest = split_drive(path)
    rest = rest.replace("\\", "/")
    if not rest.startswith("/"):
        raise UsageError(f"{what} {path!r}: must be absolute on its partition, like /ramos/win.vhd")
    parts = [p for p in rest.split("/") if p]
    if not parts:
        raise UsageError(f"{what} {path!r}: names a directory, not a file")
    for part in parts:
        bad = _WINDOWS_FORBIDDEN.intersection(part)
        if bad or part in (".", "..") or part != part.rstrip(" ."):
            raise UsageError(f"{what} {path!r}: {part!r} is not a valid file name on a FAT/NTFS "
                             "volume (no < > : \" | ? *, no trailing dot or space)")
    return drive, "/" + "/".join(parts)


def windows_path(path: str) -> str:
    """``/ramos/win.vhd`` -> ``\\ramos\\win.vhd``."""
    return path.replace("/", "\\")
