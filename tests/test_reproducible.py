"""Reproducible bytes: with SOURCE_DATE_EPOCH set, building the same image twice gives the same
file (VHD unique id, GPT GUIDs, FAT serial, NTFS serial and every timestamp derived from it);
without it, every build gets new identifiers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import ENV, diskkit, need_tool, run

from diskkit.blockdev import FileRegion
from diskkit.reproducible import unique_bytes

EPOCH = "1700000000"


def _data_ranges(path) -> list[tuple[int, int]]:
    region = FileRegion.open(path)
    try:
        return list(region.data_ranges(0, region.file_size()))
    finally:
        region.close()


def same_bytes(a, b) -> bool:
    """Byte-for-byte equality of two sparse files, reading only what either holds."""
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for start, length in sorted(set(_data_ranges(a)) | set(_data_ranges(b))):
            fa.seek(start)
            fb.seek(start)
            while length:
                n = min(length, 1 << 20)
                if fa.read(n) != fb.read(n):
                    return False
                length -= n
    return True


def build(tmp_path, name: str, epoch: str | None, *command) -> str:
    """Run ``diskkit *command`` (OUT: a new image in folder ``name``) with this epoch."""
    out = tmp_path / name / "ramos.vhd"
    out.parent.mkdir()
    env = {k: v for k, v in ENV.items() if k != "SOURCE_DATE_EPOCH"}
    if epoch is not None:
        env["SOURCE_DATE_EPOCH"] = epoch
    proc = subprocess.run([sys.executable, "-m", "diskkit", *[str(out) if c == "OUT" else c
                                                              for c in command]],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return str(out)


@pytest.mark.parametrize("command", [
    ("ramos", "init", "OUT", "--size", "1G"),
    ("ramos", "init", "OUT", "--size", "1G", "--chain", "ntloader"),
    ("vhd", "create", "OUT", "--size", "64M", "--type", "dynamic"),
])
def test_twice_with_source_date_epoch_is_identical(tmp_path, command):
    if command[:2] == ("ramos", "init"):
        need_tool("mkntfs")
    first = build(tmp_path, "a", EPOCH, *command)
    second = build(tmp_path, "b", EPOCH, *command)
    assert same_bytes(first, second)
    other = build(tmp_path, "c", str(int(EPOCH) + 1), *command)
    assert not same_bytes(first, other)  # the identifiers follow the epoch
    unset = build(tmp_path, "d", None, *command)
    assert not same_bytes(unset, build(tmp_path, "e", None, *command))


def test_reproducible_ntfs_is_valid_with_its_derived_serial(tmp_path, monkeypatch):
    need_tool("ntfsinfo")
    image = build(tmp_path, "a", EPOCH, "ramos", "init", "OUT", "--size", "1G")
    info = json.loads(diskkit("info", image, "--json").stdout)
    windows = next(p for p in info["partitions"] if p["filesystem"]
                   and p["filesystem"]["type"] == "ntfs")
    part = tmp_path / "windows.ntfs"
    run("dd", f"if={image}", f"of={part}", "bs=1M", f"skip={windows['start'] >> 20}",
        f"count={windows['size'] >> 20}", "conv=sparse", "status=none")
    run("ntfsinfo", "-m", part)  # ntfs-3g reads the volume
    blkid = run("blkid", "-p", "-o", "udev", part).stdout
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    serial = unique_bytes(8, "ntfs-serial", windows["start"], windows["size"])
    expected = f"{int.from_bytes(serial, 'little'):016X}"
    assert f"ID_FS_UUID={expected}" in blkid and windows["filesystem"]["uuid"] == expected
