"""Find driver packages under a folder, measure them, and match them to a machine's devices.

A package is a folder holding one or more INFs, as ``pnputil /export-driver`` and DISM++
write them (``name.inf_amd64_<hash>\\name.inf``); its size counts every file below it that is
not inside a deeper package.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..errors import DiskkitError, ImageIOError, NotFound
from .inf import MAX_INF_BYTES, InfFile, parse_inf

# A device ID: BUS\rest or *PNPxxxx, ASCII without spaces or colons (pnputil's labels are
# localized, so IDs are recognised by their shape, never by the text in front of them).
_ID_RE = re.compile(r"^(\*[A-Za-z0-9_]+|[A-Za-z0-9_{}.-]+\\[!-9;-~]+)$")


def read_hwids(path: str) -> set[str]:
    """Upper-case device IDs from ``pnputil /enum-devices /connected /ids`` output or a list."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(64 * 1024 * 1024)
    except OSError as exc:
        raise ImageIOError(f"{path}: {exc.strerror or exc}") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16", "replace")
    else:
        text = data.decode("latin-1")  # IDs are ASCII; the labels around them do not matter
    ids = set()
    for line in text.splitlines():
        if line.lstrip().startswith(";"):  # a comment in a hand-written list
            continue
        tokens = line.split()
        if len(tokens) == 1 and ":" not in tokens[0] and tokens[0].isascii():
            ids.add(tokens[0].upper())
        else:
            ids.update(t.upper() for t in tokens if _ID_RE.match(t))
    return ids


@dataclass
class InfEntry:
    path: str  # relative to the scanned folder, '/'-separated
    inf: InfFile | None
    error: str | None = None


@dataclass
class Package:
    """One driver package folder and what its INFs say."""

    path: str  # relative to the scanned folder ('.' for the folder itself)
    infs: list[InfEntry] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # relative to the package folder
    size: int = 0  # bytes on disk (allocated), summed over ``files``
    matched_ids: list[str] = field(default_factory=list)

    @property
    def boot_critical(self) -> bool:
        return any(e.inf and e.inf.boot_critical for e in self.infs)

    @property
    def hardware_ids(self) -> list[str]:
        return sorted({h for e in self.infs if e.inf for h in e.inf.hardware_ids})

    @property
    def classes(self) -> list[str]:
        return sorted({e.inf.driver_class for e in self.infs if e.inf and e.inf.driver_class})

    def to_dict(self) -> dict:
        return {
            "path": self.path, "size": self.size, "boot_critical": self.boot_critical,
            "classes": self.classes, "matched_ids": self.matched_ids,
            "infs": [{"path": e.path, "error": e.error, **(e.inf.to_dict() if e.inf else {})}
                     for e in self.infs],
        }


def _size_on_disk(st: os.stat_result) -> int:
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def scan(folder: str, hwids: set[str] | None = None, language: str | None = None) -> list[Package]:
    """Every package under ``folder``, sorted by path; with ``hwids``, which ones match."""
    if not os.path.isdir(folder):
        raise NotFound(f"{folder}: no such folder")
    owners: dict[str, Package | None] = {}  # directory -> the package its files belong to
    roots: dict[int, str] = {}  # id(package) -> its directory
    packages: list[Package] = []
    for root, dirs, files in os.walk(folder):  # top-down: a parent is seen before its children
        dirs.sort()
        rel = os.path.relpath(root, folder).replace(os.sep, "/")
        infs = sorted(f for f in files if f.lower().endswith(".inf"))
        owner = owners.get(os.path.dirname(root)) if root != folder else None
        if infs:
            owner = Package(rel)
            packages.append(owner)
            roots[id(owner)] = root
            for name in infs:
                owner.infs.append(_read_inf(os.path.join(root, name),
                                            name if rel == "." else f"{rel}/{name}", language))
        owners[root] = owner
        if owner is None:
            continue
        for name in sorted(files):
            full = os.path.join(root, name)
            try:
                owner.size += _size_on_disk(os.lstat(full))
            except OSError:
                continue
            owner.files.append(os.path.relpath(full, roots[id(owner)]).replace(os.sep, "/"))
    if hwids is not None:
        for package in packages:
            package.matched_ids = sorted(set(package.hardware_ids) & hwids)
    return sorted(packages, key=lambda p: p.path)


def _read_inf(path: str, rel: str, language: str | None) -> InfEntry:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_INF_BYTES + 1)
        return InfEntry(rel, parse_inf(data, language))
    except OSError as exc:
        return InfEntry(rel, None, f"cannot read: {exc.strerror or exc}")
    except DiskkitError as exc:
        return InfEntry(rel, None, str(exc))
