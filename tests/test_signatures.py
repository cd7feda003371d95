"""The filesystem sniffer names what blkid names, with blkid's label and UUID, on util-linux's
own blkid test images (ul-fs/ in the foreign-image corpus); blkid runs in the test."""

from __future__ import annotations

import re

import pytest
from support import run

from diskkit import signatures
from diskkit.blockdev import FileDevice
from diskkit.ops.inspect import detect_filesystem

# Labels diskkit does not read for these types (HFS+ keeps its name in the catalog B-tree).
LABEL_NOT_READ = {"hfsplus"}


def _decode(value: str | None) -> bytes | None:
    """A blkid udev ``*_ENC`` value (``\\xNN`` escapes) as the bytes blkid read."""
    if value is None:
        return None
    return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m[1], 16)]), value.encode())


def blkid(path) -> dict | None:
    """blkid's low-level probe of ``path``: TYPE, LABEL and UUID (as bytes); None when blkid
    cannot decide (several signatures: exit 8)."""
    proc = run("blkid", "-p", "-o", "udev", path, check=False)
    if proc.returncode == 8:
        return None
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return {"type": values.get("ID_FS_TYPE"), "label": _decode(values.get("ID_FS_LABEL_ENC")),
            "uuid": _decode(values.get("ID_FS_UUID_ENC"))}


@pytest.fixture(scope="module")
def ul_fs(corpus):
    return [corpus.path(name) for name in corpus.names("ul-fs", ".img")]


def diskkit_view(path) -> dict:
    """What ``diskkit info`` says the volume holds (FAT described by the FAT layer)."""
    with FileDevice(str(path)) as dev:
        return detect_filesystem(dev) or {}


def test_every_util_linux_image_is_named_as_blkid_names_it(ul_fs):
    assert len(ul_fs) > 100
    wrong, named = [], 0
    for path in ul_fs:
        theirs = blkid(path)
        if theirs is None:
            continue
        ours = diskkit_view(path)
        kind = ours.get("type")
        if kind in (None, "unknown"):
            if theirs["type"] in signatures.FILESYSTEMS:
                wrong.append(f"{path.name}: blkid {theirs['type']}, diskkit {kind}")
            continue
        named += 1
        expected = "vfat" if kind.startswith("fat") else kind
        if expected != theirs["type"]:
            wrong.append(f"{path.name}: blkid {theirs['type']}, diskkit {kind}")
            continue
        encoding = "cp850" if expected == "vfat" else "utf-8"
        label = ours.get("label")
        label = label.encode(encoding, "replace") if label else None
        if expected not in LABEL_NOT_READ and label != theirs["label"]:
            wrong.append(f"{path.name}: label {label!r}, blkid {theirs['label']!r}")
        uuid = ours.get("uuid")
        if (uuid.encode() if uuid else None) != theirs["uuid"]:
            wrong.append(f"{path.name}: UUID {uuid!r}, blkid {theirs['uuid']!r}")
    assert not wrong, "\n".join(wrong)
    assert named >= 70
