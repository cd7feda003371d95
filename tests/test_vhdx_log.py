"""The VHDX log: images whose log holds entries to replay, read as qemu reads them after its
own replay (``qemu-img check -r all``).

Two sources: qemu-io killed while it allocates blocks (qemu updates the BAT through the
log), and entries built here from the spec's text (MS-VHDX 2.3) with struct and CRC-32C, not
with diskkit's own log writer.
"""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
import time
import uuid

import pytest
from google_crc32c import value as crc32c

from diskkit import vhdx
from diskkit.errors import CorruptImage
from diskkit.image import open_image
from support import need_tool, run

MiB = 1 << 20
LOG_AT, LOG_LEN, BAT_AT = MiB, MiB, 2 * MiB  # where qemu-img create puts them


def qemu_replayed(path, tmp_path) -> bytes:
    """The disk as qemu reads it once its own replay ran (on a copy)."""
    copy = tmp_path / "qemu-copy.vhdx"
    shutil.copyfile(path, copy)
    run("qemu-img", "check", "-r", "all", "-f", "vhdx", copy, check=False)
    raw = tmp_path / "qemu.raw"
    run("qemu-img", "convert", "-f", "vhdx", "-O", "raw", copy, raw)
    data = raw.read_bytes()
    raw.unlink()
    copy.unlink()
    return data


def read_all(path, writable: bool = False) -> bytes:
    with open_image(str(path), writable=writable) as dev:
        return dev.read_at(0, dev.size)


def test_images_left_by_killed_qemu_io(tmp_path):
    need_tool("qemu-io")
    img = tmp_path / "k.vhdx"
    found = []
    rng = random.Random(5)
    for attempt in range(80):
        run("qemu-img", "create", "-f", "vhdx", "-o", "block_size=1M", img, "300M")
        args = ["qemu-io", "-f", "vhdx"]
        for i in range(290):  # every write allocates a block: a log entry for its BAT sector
            args += ["-c", f"write -P {i % 250 + 1} {i}M 4k"]
        proc = subprocess.Popen([*args, str(img)], stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.02, 0.3))
        proc.kill()
        proc.wait()
        if vhdx.info(img)["log"]["replayed_entries"]:
            found.append(tmp_path / f"dirty{attempt}.vhdx")
            img.rename(found[-1])
            if len(found) == 3:
                break
    assert found, "no kill landed inside one of qemu's log updates in 80 tries"
    for path in found:
        refused = run("qemu-img", "convert", "-f", "vhdx", "-O", "raw", path,
                      tmp_path / "x.raw", check=False)
        assert refused.returncode and "log" in refused.stderr  # qemu needs the replay too
        expected = qemu_replayed(path, tmp_path)
        assert read_all(path) == expected  # replayed in memory; the file is untouched
        report = vhdx.check(path)
        assert report.clean and "replay" in report.to_text()
        assert read_all(path, writable=True) == expected  # replayed on disk
        assert vhdx.info(path)["log"]["replayed_entries"] == 0
        run("qemu-img", "convert", "-f", "vhdx", "-O", "raw", path, tmp_path / "after.raw")
        assert (tmp_path / "after.raw").read_bytes() == expected


# -- entries built by the spec ----------------------------------------------------------------

def checksummed(raw: bytes) -> bytes:
    raw = bytearray(raw)
    raw[4:8] = bytes(4)
    raw[4:8] = struct.pack("<I", crc32c(bytes(raw)))
    return bytes(raw)


def log_entry(seq: int, tail: int, log_guid: bytes, flushed: int, last: int,
              updates: list) -> bytes:
    """An entry per MS-VHDX 2.3.1: header + descriptors in 4 KiB sectors, then one data sector
    per data descriptor (its first 8 and last 4 bytes live in the descriptor)."""
    descriptors, data = b"", b""
    for kind, offset, payload in updates:
        if kind == "zero":
            descriptors += struct.pack("<4sIQQQ", b"zero", 0, payload, offset, seq)
        else:
            descriptors += struct.pack("<4s4s8sQQ", b"desc", payload[-4:], payload[:8], offset, seq)
            data += struct.pack("<4sI", b"data", seq >> 32) + payload[8:-4] + \
                struct.pack("<I", seq & 0xFFFFFFFF)
    desc_sectors = -(-(len(updates) + 2) // 128)
    length = desc_sectors * 4096 + len(data)
    head = struct.pack("<4sIIIQII16sQQ", b"loge", 0, length, tail, seq, len(updates), 0,
                       log_guid, flushed, last)
    return checksummed((head + descriptors).ljust(desc_sectors * 4096, b"\0") + data)


def set_log_guid(path, log_guid: bytes) -> None:
    """Both headers name ``log_guid`` (sequence numbers raised, checksums redone)."""
    with open(path, "r+b") as fh:
        for at in (64 * 1024, 128 * 1024):
            fh.seek(at)
            header = bytearray(fh.read(4096))
            header[8:16] = struct.pack("<Q", struct.unpack_from("<Q", header, 8)[0] + 2)
            header[48:64] = log_guid
            fh.seek(at)
            fh.write(checksummed(bytes(header)))


def put_in_log(path, position: int, entry: bytes) -> None:
    """Write ``entry`` into the log ring at ``position``, wrapping at its end."""
    with open(path, "r+b") as fh:
        first = entry[:LOG_LEN - position]
        fh.seek(LOG_AT + position)
        fh.write(first)
        if len(first) < len(entry):
            fh.seek(LOG_AT)
            fh.write(entry[len(first):])


@pytest.fixture
def base(tmp_path):
    """A qemu-made dynamic VHDX (1 MiB blocks) with block 0 written, and two new blocks'
    payloads (0x77, then 0x88) appended at the end of the file, no BAT entry pointing at them."""
    img = tmp_path / "base.vhdx"
    run("qemu-img", "create", "-f", "vhdx", "-o", "block_size=1M,block_state_zero=off", img,
        "64M")
    run("qemu-io", "-f", "vhdx", "-c", "write -P 0x11 0 1M", img)
    size = img.stat().st_size
    with open(img, "r+b") as fh:
        fh.seek(size)
        fh.write(b"\x77" * MiB + b"\x88" * MiB)
    with open(img, "rb") as fh:
        fh.seek(BAT_AT)
        bat_sector = fh.read(4096)
    return img, size, bat_sector


def bat_with(sector: bytes, index: int, entry: int) -> bytes:
    out = bytearray(sector)
    out[8 * index:8 * index + 8] = struct.pack("<Q", entry)
    return bytes(out)


def test_entry_built_by_the_spec_is_replayed_like_qemu(base, tmp_path):
    img, block_at, sector = base
    guid = uuid.uuid4().bytes
    new_bat = bat_with(sector, 5, 6 | block_at)  # payload block 5 -> the appended data
    # wraps around the end of the ring; a zero descriptor clears what follows in the BAT
    entry = log_entry(7, LOG_LEN - 4096, guid, block_at, block_at + MiB,
                      [("data", BAT_AT, new_bat), ("zero", BAT_AT + 4096, 4096)])
    put_in_log(img, LOG_LEN - 4096, entry)
    set_log_guid(img, guid)
    expected = qemu_replayed(img, tmp_path)
    assert expected[5 * MiB:6 * MiB] == b"\x77" * MiB and expected[:MiB] == b"\x11" * MiB
    assert read_all(img) == expected
    assert read_all(img, writable=True) == expected
    run("qemu-img", "check", "-f", "vhdx", img)


def test_newest_complete_sequence_wins_and_torn_entries_are_ignored(base, tmp_path):
    img, block_at, sector = base
    guid = uuid.uuid4().bytes
    older = log_entry(3, 0, guid, block_at, block_at + MiB,
                      [("data", BAT_AT, bat_with(sector, 5, 6 | block_at))])
    both = bat_with(bat_with(sector, 5, 6 | block_at), 9, 6 | (block_at + MiB))
    newer = log_entry(4, 0, guid, block_at, block_at + 2 * MiB,  # tail: the first entry
                      [("data", BAT_AT, both)])
    put_in_log(img, 0, older + newer)
    stale = log_entry(9, 6 * 4096, uuid.uuid4().bytes, block_at, block_at + MiB,  # other GUID
                      [("data", BAT_AT, bat_with(sector, 1, 6 | block_at))])
    put_in_log(img, 6 * 4096, stale)
    set_log_guid(img, guid)
    expected = qemu_replayed(img, tmp_path)
    assert expected[5 * MiB:6 * MiB] == b"\x77" * MiB  # the newest sequence applies
    assert expected[9 * MiB:10 * MiB] == b"\x88" * MiB
    assert expected[MiB:2 * MiB] == bytes(MiB)
    assert read_all(img) == expected
    # a torn newer entry (its data sector damaged) leaves the older sequence as the active one
    with open(img, "r+b") as fh:
        fh.seek(LOG_AT + len(older) + 4096 + 100)
        fh.write(b"torn")
    ours = read_all(img)
    assert ours[5 * MiB:6 * MiB] == b"\x77" * MiB and ours[9 * MiB:10 * MiB] == bytes(MiB)
    assert ours == qemu_replayed(img, tmp_path)


def test_log_of_a_truncated_file_is_refused(base):
    img, block_at, sector = base
    guid = uuid.uuid4().bytes
    entry = log_entry(1, 0, guid, block_at + 64 * MiB, block_at + 64 * MiB,
                      [("data", BAT_AT, bat_with(sector, 5, 6 | block_at))])
    put_in_log(img, 0, entry)
    set_log_guid(img, guid)
    with pytest.raises(CorruptImage, match="truncated.*cannot be replayed"):
        open_image(str(img))
    report = vhdx.check(img)
    assert not report.clean and "truncated" in report.to_text()


def test_log_writing_over_the_headers_is_refused(base):
    img, block_at, _ = base
    guid = uuid.uuid4().bytes
    put_in_log(img, 0, log_entry(1, 0, guid, block_at, block_at + MiB,
                                 [("zero", 64 * 1024, 4096)]))
    set_log_guid(img, guid)
    with pytest.raises(CorruptImage, match="over the headers"):
        open_image(str(img), writable=True)
