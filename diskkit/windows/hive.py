"""Registry hive files (SYSTEM, SOFTWARE, BCD) read with regipy, behind one small interface.

regipy parses the hive; this module adds what diskkit needs around it: hives taken from any
file object (a file inside an NTFS volume, not only a host path), case-insensitive key and
value lookup as Windows does it, values as plain Python data, and every failure regipy can
raise on a damaged or hostile hive turned into one ``CorruptImage`` line naming the hive and
key. regipy is imported only here, and only when a hive is opened, so commands that never
read a hive do not pay for it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from ..errors import CorruptImage, DiskkitError, ImageIOError

REGF_SIGNATURE = b"regf"
MAX_HIVE_BYTES = 512 * 1024 * 1024  # the largest real SOFTWARE hives are a few hundred MiB
MAX_SUBKEYS = 1_000_000


@dataclass(frozen=True)
class Value:
    name: str
    type: str  # REG_SZ, REG_DWORD, REG_BINARY, ...
    data: object  # str | int | list[str] | bytes


def _regipy_call(hive_name: str, where: str, fn, *args):
    """Run a regipy call; anything it raises on a damaged hive becomes CorruptImage."""
    try:
        return fn(*args)
    except DiskkitError:
        raise
    except RecursionError:
        raise CorruptImage(f"{hive_name}: registry key {where}: key structure loops") from None
    except Exception as exc:  # regipy raises its own, construct's and struct's errors
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CorruptImage(f"{hive_name}: registry hive damaged at {where}: {detail}") from None


class Key:
    """One registry key; children and values are read once and kept."""

    def __init__(self, hive: "Hive", record, path: str):
        self.hive = hive
        self._record = record
        self.path = path or "\\"
        self.name = record.name if path else ""
        self._children: dict[str, Key] | None = None
        self._values: dict[str, Value] | None = None

    def children(self) -> dict[str, "Key"]:
        """Subkeys by upper-case name."""
        if self._children is None:
            def read():
                out = {}
                for i, rec in enumerate(self._record.iter_subkeys() or ()):
                    if i >= MAX_SUBKEYS:
                        raise CorruptImage(f"more than {MAX_SUBKEYS} subkeys")
                    out[rec.name.upper()] = Key(self.hive, rec, self._child_path(rec.name))
                return out
            self._children = _regipy_call(self.hive.name, self.path, read)
        return self._children

    def _child_path(self, name: str) -> str:
        return ("" if self.path == "\\" else self.path) + "\\" + name

    def subkeys(self) -> list["Key"]:
        return list(self.children().values())

    def child(self, name: str) -> "Key | None":
        return self.children().get(name.upper())

    def values(self) -> dict[str, Value]:
        """Values by upper-case name ("" for the default value)."""
        if self._values is None:
            def read():
                out = {}
                for v in self._record.iter_values(trim_values=False) or ():
                    name = "" if v.name == "(default)" else v.name
                    data = v.value
                    if isinstance(data, bytes) and v.value_type in ("REG_SZ", "REG_EXPAND_SZ"):
                        data = data.decode("utf-16-le", "replace").rstrip("\0")
                    out[name.upper()] = Value(name, str(v.value_type), data)
                return out
            self._values = _regipy_call(self.hive.name, self.path, read)
        return self._values

    def value(self, name: str, default=None):
        """The data of value ``name`` (any case), or ``default``."""
        found = self.values().get(name.upper())
        return default if found is None else found.data


class Hive:
    """A registry hive; ``key("ControlSet001\\\\Services")`` walks from the root."""

    def __init__(self, path: str, name: str | None = None):
        self.name = name or path
        _check_header(path, self.name)
        from regipy.registry import RegistryHive

        self._hive = _regipy_call(self.name, "the hive header", RegistryHive, path)
        self.root = Key(self, self._hive.root, "")

    def key(self, path: str) -> Key | None:
        """The key at ``path`` (backslash-separated, any case), or None."""
        key = self.root
        for part in filter(None, path.split("\\")):
            key = key.child(part)
            if key is None:
                return None
        return key


def _check_header(path: str, name: str) -> None:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ImageIOError(f"{name}: {exc.strerror or exc}") from None
    if head != REGF_SIGNATURE:
        raise CorruptImage(f"{name}: not a registry hive (no 'regf' signature)")
    if size > MAX_HIVE_BYTES:
        raise CorruptImage(f"{name}: {size} bytes, larger than any registry hive")


def open_hive(path: str) -> Hive:
    """A hive file on the host."""
    return Hive(str(path))


def hive_from_stream(stream, name: str) -> Hive:
    """A hive read from a file object (a file inside an image): regipy wants a path, so the
    bytes go to a temporary file first, which is removed once regipy has read it."""
    fd, tmp = tempfile.mkstemp(prefix="diskkit-hive-")
    try:
        with os.fdopen(fd, "wb") as out:
            copied = 0
            while True:
                chunk = stream.read(1024 * 1024)
                if not chunk:
                    break
                copied += len(chunk)
                if copied > MAX_HIVE_BYTES:
                    raise CorruptImage(f"{name}: larger than any registry hive")
                out.write(chunk)
        return Hive(tmp, name)
    finally:
        os.unlink(tmp)


def hive_from_bytes(data: bytes, name: str) -> Hive:
    import io

    return hive_from_stream(io.BytesIO(data), name)

