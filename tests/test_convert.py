"""convert and compact, checked with qemu-img compare, host allocation and fsck.fat."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from diskkit import vhd
from diskkit.errors import AlreadyExists, Unsupported, UsageError
from diskkit.image import open_image
from diskkit.ops.compact import compact
from diskkit.ops.convert import convert
from diskkit.units import MiB
from support import diskkit, run
from support.vhd import make_raw, qemu_compare, rewrite_footer

FMT = {"raw": "raw", "fixed": "vpc", "dynamic": "vpc"}


def _allocated(path) -> int:
    return os.stat(path).st_blocks * 512


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """One sparse raw image (8 MiB of data in 200 MiB) in every container, ours and qemu's."""
    d = tmp_path_factory.mktemp("src")
    raw = make_raw(d / "src.raw", 200 * MiB, seed=11, writes=40)
    with open(raw, "r+b") as fh:  # an allocated but all-zero region must not be copied
        fh.seek(150 * MiB)
        fh.write(bytes(3 * MiB))
    out = {"raw": raw}
    for to in ("fixed", "dynamic"):
        out[to] = d / f"ours-{to}.vhd"
        convert(raw, out[to], to)
        out[f"qemu-{to}"] = d / f"qemu-{to}.vhd"
        run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o",
            f"subformat={to},force_size=on", raw, out[f"qemu-{to}"])
    return out


@pytest.mark.parametrize("src_kind", ["raw", "fixed", "dynamic", "qemu-fixed", "qemu-dynamic"])
@pytest.mark.parametrize("to", ["raw", "fixed", "dynamic"])
def test_every_pair_is_identical_and_sparse(tmp_path, sources, src_kind, to):
    src = sources[src_kind]
    out = tmp_path / f"out.{to}"
    result = convert(src, out, to)
    assert result["virtual_size"] == 200 * MiB
    assert qemu_compare(sources["raw"], "raw", out, FMT[to])
    if to != "raw":
        assert vhd.check(out).clean
        with open_image(out) as dev:
            assert dev.container == to and dev.size == 200 * MiB
    # 40 writes of < 300 KiB: at most 12 MiB of data, plus one dynamic block per write
    limit = 12 * MiB + (40 * 2 * MiB if to == "dynamic" else 0)
    assert _allocated(out) < limit, _allocated(out)
    assert result["allocated_bytes"] == _allocated(out)


def test_dynamic_output_skips_zero_blocks(tmp_path, sources):
    out = tmp_path / "d.vhd"
    convert(sources["raw"], out, "dynamic", block_size=512 * 1024)
    with open_image(out) as dev:
        assert dev.block_size == 512 * 1024
        zero_block = 150 * MiB // dev.block_size + 1
        assert dev.bat[zero_block] == 0xFFFFFFFF  # the allocated-but-zero source region


def test_convert_refusals_and_errors(tmp_path, sources):
    out = tmp_path / "x.vhd"
    out.write_bytes(b"keep")
    with pytest.raises(AlreadyExists):
        convert(sources["raw"], out, "fixed")
    assert out.read_bytes() == b"keep"
    odd = tmp_path / "odd.raw"
    odd.write_bytes(b"1" * 1000)
    with pytest.raises(UsageError, match="multiple of 512"):
        convert(odd, tmp_path / "odd.vhd", "fixed")
    assert not (tmp_path / "odd.vhd").exists()
    convert(odd, tmp_path / "odd2.raw", "raw")
    assert (tmp_path / "odd2.raw").read_bytes() == b"1" * 1000
    child = tmp_path / "child.vhd"
    vhd.create(child, MiB, "dynamic")
    rewrite_footer(child, both=True, disk_type=4)
    with pytest.raises(Unsupported, match="differencing"):
        convert(child, tmp_path / "c.raw", "raw")
    proc = diskkit("convert", sources["raw"], tmp_path / "y", "--to", "qcow2", check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_cli_convert_json_and_in_place_with_force(tmp_path, sources):
    work = tmp_path / "w.vhd"
    proc = diskkit("convert", "--json", sources["raw"], work, "--to", "dynamic")
    assert json.loads(proc.stdout)["container"] == "dynamic"
    diskkit("convert", work, work, "--to", "fixed", "--force")  # replaced only when complete
    assert vhd.info(work)["container"] == "fixed"
    assert qemu_compare(sources["raw"], "raw", work, "vpc")
    assert not [n for n in os.listdir(tmp_path) if "diskkit-tmp" in n]


def test_interrupted_convert_leaves_no_output(tmp_path):
    src = tmp_path / "big.raw"
    with open(src, "wb") as fh:
        for i in range(96):
            fh.write(os.urandom(MiB))
    for delay in (0.05, 0.15, 0.3):
        out = tmp_path / "out.vhd"
        proc = subprocess.Popen([sys.executable, "-m", "diskkit", "convert", str(src), str(out),
                                 "--to", "dynamic", "--force"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if out.exists():  # finished before the kill: then it must be complete
            assert qemu_compare(src, "raw", out, "vpc")
            out.unlink()
        for name in os.listdir(tmp_path):
            if "diskkit-tmp" in name:
                os.unlink(tmp_path / name)


@pytest.mark.parametrize("kind", ["raw", "fixed", "dynamic"])
def test_compact_drops_zero_blocks(tmp_path, kind):
    path = tmp_path / f"c.{kind}"
    size = 64 * MiB
    if kind == "raw":
        with open(path, "wb") as fh:
            fh.truncate(size)
    else:
        vhd.create(path, size, kind)
    with open_image(path, writable=True) as dev:
        dev.write_at(0, os.urandom(MiB))
        dev.write_at(20 * MiB, os.urandom(8 * MiB))
        dev.write_at(40 * MiB, os.urandom(MiB))
        dev.write_at(20 * MiB, bytes(8 * MiB))  # overwritten with zeros: reclaimable
    reference = tmp_path / "ref.raw"
    convert(path, reference, "raw")
    before = _allocated(path)
    result = compact(path)
    assert result["allocated_after"] == _allocated(path) < before - 6 * MiB
    assert qemu_compare(reference, "raw", path, FMT[kind])
    if kind != "raw":
        assert vhd.check(path).clean
    if kind == "dynamic":
        with open_image(path) as dev:
            assert dev.allocated_blocks == 2


def test_compact_zero_free_fat(tmp_path):
    from diskkit import fat, part

    path = tmp_path / "esp.vhd"
    vhd.create(path, 80 * MiB, "dynamic")
    with open_image(path, writable=True) as dev:
        part.init_gpt(dev)
        p = part.add_partition(dev, "esp", 70 * MiB)
        vol = part.partition_device(dev, p.index)
        fat.mkfs(vol, fat_type=16, label="ESP")
        with fat.FatFS(vol) as fs:
            fs.write_file("/KEEP.BIN", b"k" * 300000)
            fs.write_file("/GONE.BIN", os.urandom(20 * MiB))
        with fat.FatFS(vol) as fs:
            fs.remove("/GONE.BIN")
    before = _allocated(path)
    plain = compact(path)
    assert plain["allocated_after"] > 20 * MiB  # deleted data is still there
    result = diskkit("compact", "--json", "--zero-free", path)
    data = json.loads(result.stdout)
    assert data["zero_free"]["volumes"][0]["free_bytes"] >= 20 * MiB
    assert data["allocated_after"] < before - 18 * MiB
    raw = tmp_path / "esp.raw"
    convert(path, raw, "raw")
    volume = tmp_path / "volume.img"
    with open_image(raw) as dev, open(volume, "wb") as fh:
        entry = part.read_table(dev).partitions[0]
        for pos in range(0, entry.size, 4 * MiB):
            fh.write(dev.read_at(entry.start + pos, min(4 * MiB, entry.size - pos)))
    run("fsck.fat", "-n", volume)
    assert run("mtype", "-i", volume, "::/KEEP.BIN").stdout == "k" * 300000


def test_info_check_and_compact_walk_the_same_volumes(tmp_path):
    """An MBR whose second entry runs past the disk: info and check report it and go on, and
    compact --zero-free zeroes the FAT in the first partition (one walk, part.volumes)."""
    from diskkit import fat, part

    path = tmp_path / "mbr.img"
    with open(path, "wb") as fh:
        fh.truncate(32 * MiB)
    with open_image(path, writable=True) as dev:
        part.init_mbr(dev)
        index = part.add_partition(dev, "fat16", 16 * MiB).index
        fat.mkfs(part.partition_device(dev, index), fat_type=16, label="DATA")
        with fat.FatFS(part.partition_device(dev, index)) as fs:
            fs.write_file("/KEEP.BIN", b"k" * 100000)
            fs.write_file("/GONE.BIN", b"g" * (4 * MiB))
        with fat.FatFS(part.partition_device(dev, index)) as fs:
            fs.remove("/GONE.BIN")
    with open(path, "r+b") as fh:  # entry 2: NTFS type, 40 MiB from 40 MiB on a 32 MiB disk
        fh.seek(446 + 16)
        fh.write(bytes(4) + b"\x07" + bytes(3) + (81920).to_bytes(4, "little") * 2)
    assert "start=       81920" in run("sfdisk", "-d", path).stdout  # sfdisk reads it so too
    info = diskkit("info", path)
    assert "beyond the disk's last LBA" in info.stdout and "label 'DATA'" in info.stdout
    check = diskkit("check", path, check=False)
    assert check.returncode == 1 and "partition 2: ends at LBA 163839" in check.stdout
    done = json.loads(diskkit("compact", "--json", "--zero-free", path).stdout)
    assert [v["volume"] for v in done["zero_free"]["volumes"]] == ["partition 1"]
    assert done["zero_free"]["volumes"][0]["free_bytes"] > 4 * MiB
    volume = tmp_path / "p1.img"
    with open(path, "rb") as src, open(volume, "wb") as dst:
        src.seek(MiB)
        dst.write(src.read(16 * MiB))
    run("fsck.fat", "-n", volume)
    assert run("mtype", "-i", volume, "::/KEEP.BIN").stdout == "k" * 100000
    assert "GONE" not in run("mdir", "-i", volume, "::/").stdout
