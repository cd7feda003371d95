"""`diskkit resize`: judged by sgdisk -v, sfdisk, qemu-img info, fsck.fat and content hashes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from support import ENV, diskkit, run
from support.part import make_image, raw_view, sfdisk_parts, sgdisk_clean

from diskkit import part
from diskkit.image import open_image
from diskkit.units import MiB


def build_disk(tmp_path, container: str, size: int = 64 * MiB, kind: str = "gpt") -> str:
    """ESP (FAT32 via mkfs.fat), a data partition full of a known pattern, free space after."""
    img = make_image(tmp_path, container, size)
    diskkit("part", "init", img, f"--{kind}")
    diskkit("part", "add", img, "--type", "esp", "--size", "34M")
    diskkit("part", "add", img, "--type", "linux", "--size", "12M")
    fat = tmp_path / "esp.fat"
    with open(fat, "wb") as fh:
        fh.truncate(34 * MiB)
    run("mkfs.fat", "-F", "32", "-s", "1", "-n", "ESP", fat)
    with open_image(img, writable=True) as dev:
        esp = part.partition_device(dev, 1)
        esp.write_at(0, fat.read_bytes())
        data = part.partition_device(dev, 2)
        data.write_at(0, bytes(range(256)) * (data.size // 256))
    return img


def partition_hashes(img: str) -> dict[int, str]:
    with open_image(img) as dev:
        return {p.index: hashlib.sha256(part.partition_device(dev, p.index).read_at(0, p.size))
                .hexdigest() for p in part.read_table(dev).partitions}


def fsck_partition(img: str, index: int, workdir) -> None:
    with open_image(img) as dev:
        vol = part.partition_device(dev, index)
        out = os.path.join(str(workdir), f"p{index}.fat")
        with open(out, "wb") as fh:
            fh.write(vol.read_at(0, vol.size))
    run("fsck.fat", "-n", out)


def container_size(img: str, workdir) -> int:
    fmt = "raw" if raw_view(img, workdir) == img else "vpc"
    return json.loads(run("qemu-img", "info", "-f", fmt, "--output=json", img).stdout)[
        "virtual-size"]


@pytest.mark.parametrize("container", ["raw", "fixed", "dynamic"])
def test_grow_moves_backup_and_grows_last_partition(tmp_path, container):
    img = build_disk(tmp_path, container)
    before = partition_hashes(img)
    out = json.loads(diskkit("resize", img, "--size", "96M", "--grow-part", "2", "--json").stdout)
    assert out["old_size"] == 64 * MiB and out["new_size"] == 96 * MiB
    assert container_size(img, tmp_path) == 96 * MiB
    raw = raw_view(img, tmp_path)
    sgdisk_clean(raw)
    parts = sfdisk_parts(raw)
    assert parts[1][2] == 96 * MiB // 512 - 34  # grown to the last usable LBA
    after = partition_hashes(img)
    assert after[1] == before[1]
    with open_image(img) as dev:  # the data partition's old bytes are intact, the rest new
        data = part.partition_device(dev, 2)
        assert data.read_at(0, 12 * MiB) == bytes(range(256)) * (12 * MiB // 256)
    fsck_partition(img, 1, tmp_path)
    assert diskkit("check", img).returncode == 0


@pytest.mark.parametrize("container", ["raw", "fixed", "dynamic"])
def test_shrink_guarded_and_forced(tmp_path, container):
    img = build_disk(tmp_path, container)
    before = partition_hashes(img)
    proc = diskkit("resize", img, "--size", "40M", check=False)
    assert proc.returncode == 2 and "would cut partition 2 (no FAT or NTFS" in proc.stderr
    assert f"keeps them whole is 47.02 MiB ({47 * MiB + 33 * 512} bytes)" in proc.stderr
    assert container_size(img, tmp_path) == 64 * MiB and partition_hashes(img) == before
    diskkit("resize", img, "--size", "48M")  # both partitions end before 47 MiB: no cut
    assert container_size(img, tmp_path) == 48 * MiB
    sgdisk_clean(raw_view(img, tmp_path))
    assert partition_hashes(img) == before
    out = diskkit("resize", img, "--size", "40M", "--force").stdout
    assert "cut partition 2" in out
    sgdisk_clean(raw_view(img, tmp_path))
    assert partition_hashes(img)[1] == before[1]
    fsck_partition(img, 1, tmp_path)
    esp_end = 35 * MiB // 512 - 1  # partition 2 starts right after: keep the ESP, drop it
    out = diskkit("resize", img, "--size", str((esp_end + 34) * 512), "--force").stdout
    assert "dropped partition 2" in out and "cut partition" not in out
    sgdisk_clean(raw_view(img, tmp_path))
    assert diskkit("check", img).returncode == 0


def test_mbr_grow_and_relative_size(tmp_path):
    img = build_disk(tmp_path, "raw", kind="mbr")
    diskkit("resize", img, "--size", "+16M", "--grow-part", "2")
    parts = sfdisk_parts(img)
    assert os.path.getsize(img) == 80 * MiB and parts[1][2] == 80 * MiB // 512 - 1
    proc = diskkit("resize", img, "--size", "64M", "--grow-part", "1", "--force", check=False)
    assert proc.returncode == 2 and "not the last" in proc.stderr


def test_no_table_image_keeps_the_container_cut_data_guard(tmp_path):
    img = make_image(tmp_path, "raw", 8 * MiB)
    with open(img, "r+b") as fh:
        fh.seek(7 * MiB)
        fh.write(b"data")
    proc = diskkit("resize", img, "--size", "4M", check=False)
    assert proc.returncode == 2 and "cut data" in proc.stderr
    diskkit("resize", img, "--size", "16M")
    assert os.path.getsize(img) == 16 * MiB


def test_resize_refuses_damaged_gpt_and_bad_sizes(tmp_path):
    img = build_disk(tmp_path, "raw")
    for size, words in (("1000", "multiple of 512"), ("0", "positive"), ("abc", "invalid size")):
        proc = diskkit("resize", img, "--size", size, check=False)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    with open(img, "r+b") as fh:
        fh.seek(512 + 20)
        fh.write(b"\x01")
    proc = diskkit("resize", img, "--size", "80M", check=False)
    assert proc.returncode == 2 and "part repair" in proc.stderr


def _table_state(img: str):
    with open_image(img) as dev:
        return [(p.index, p.first_lba, p.last_lba) for p in part.read_table(dev).partitions]


@pytest.mark.parametrize("container,args", [
    ("fixed", ["--size", "96M", "--grow-part", "2"]),
    ("dynamic", ["--size", "96M"]),
    ("raw", ["--size", "48M"]),
])
def test_resize_killed_at_every_write(tmp_path, container, args):
    """SIGKILL before each write in turn: the image must pass `diskkit check` (or, GPT copy
    torn mid-edit, pass it after `part repair` with the same partitions), the ESP unchanged."""
    pristine = build_disk(tmp_path, container)
    esp_hash = partition_hashes(pristine)[1]
    old_table = _table_state(pristine)

    def killed_at(point: int) -> bool:
        """Run killed before write ``point``; True when the command finished first."""
        work = str(tmp_path / f"k{point}-{os.path.basename(pristine)}")
        shutil.copyfile(pristine, work)
        env = dict(ENV, DISKKIT_KILL_AFTER_WRITES=str(point))
        proc = subprocess.run([sys.executable, "-m", "diskkit", "resize", work, *args],
                              env=env, capture_output=True, text=True)
        if proc.returncode == 0:
            assert diskkit("check", work).returncode == 0
            return True
        assert proc.returncode == -9, proc.stderr
        state = _table_state(work)
        if diskkit("check", work, check=False).returncode != 0:  # a torn GPT or VHD footer
            repaired = diskkit("part", "repair", work).stdout
            if container == "dynamic":
                repaired += diskkit("vhd", "repair", work).stdout
            assert "GPT" in repaired or "footer copy" in repaired
            assert diskkit("check", work, check=False).returncode == 0
            assert _table_state(work) == state
        assert state[0] == old_table[0]
        assert partition_hashes(work)[1] == esp_hash
        os.unlink(work)
        return False

    with ThreadPoolExecutor(2) as pool:
        for first in range(1, 80, 4):
            done = list(pool.map(killed_at, range(first, first + 4)))
            if any(done):
                break
        else:
            raise AssertionError("resize never finished")
    assert first > 4  # the command really was stopped at several writes


def test_dynamic_grow_past_bat_room_keeps_fat_files(tmp_path):
    """64 MiB -> 3 GiB: the dynamic VHD's BAT must grow (data blocks move); the FAT file
    inside reads back the same, fsck.fat and sgdisk are clean, qemu-img sees 3 GiB."""
    img = build_disk(tmp_path, "dynamic")
    payload = os.urandom(300_000)
    (tmp_path / "payload.bin").write_bytes(payload)
    diskkit("fat", "put", img, "--part", "1", tmp_path / "payload.bin", "/payload.bin")
    diskkit("resize", img, "--size", "3G", "--grow-part", "2")
    assert container_size(img, tmp_path) == 3 * 1024 * MiB
    sgdisk_clean(raw_view(img, tmp_path))
    fsck_partition(img, 1, tmp_path)
    out = subprocess.run([sys.executable, "-m", "diskkit", "fat", "cat", img, "--part", "1",
                          "/payload.bin"], capture_output=True, env=ENV, check=True).stdout
    assert out == payload
    assert diskkit("check", img).returncode == 0
