"""compact --zero-free and convert --skip-free on a disk whose free clusters hold deleted data.

The disk (support.ntfs.leftover_disk): a GPT ESP with a deleted 6 MiB file and an NTFS made
by a quick mkntfs over random bytes, so every free cluster is non-zero. Judged by tools
nobody here wrote: qemu-img (container, map of allocated data), ntfs-3g (ntfscat of $Bitmap
and files, ntfsinfo, ntfsfix -n), fsck.fat and mtools, blkid.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diskkit.blockdev import MemoryDevice
from diskkit.ops.freespace import WithoutFree
from support import ENV, diskkit, need_tool, run
from support.ntfs import hibernate, leftover_disk, make_tree

MiB = 1 << 20


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    for tool in ("mkntfs", "wimapply", "ntfscat", "ntfsfix", "qemu-img", "fsck.fat"):
        need_tool(tool)
    tmp = tmp_path_factory.mktemp("freespace")
    tree = make_tree(str(tmp / "src"), seed=11, files=60, depth=3, max_size=400_000)
    image = str(tmp / "disk.img")
    where = leftover_disk(image, str(tmp / "src"))
    return {"image": image, "tree": tree, "tmp": tmp, **where}


def extract(image: str, fmt: str, start: int, size: int, out) -> str:
    """One partition of ``image`` as its own file, read through qemu-img (not diskkit)."""
    raw = str(out) + ".raw"
    run("qemu-img", "convert", "-f", fmt, "-O", "raw", image, raw)
    with open(raw, "rb") as src, open(out, "wb") as dst:
        src.seek(start)
        dst.write(src.read(size))
    os.unlink(raw)
    return str(out)


def ntfscat(*args) -> bytes:
    need_tool("ntfscat")
    return subprocess.run(["ntfscat", *map(str, args)], capture_output=True, env=ENV,
                          check=True).stdout


def used_clusters(volume: str) -> tuple[int, list[int]]:
    """Cluster size and the used cluster numbers, from $Bitmap as ntfscat reads it."""
    info = run("ntfsinfo", "-m", volume).stdout
    cs = int(re.search(r"Cluster Size:\s+(\d+)", info).group(1))
    bitmap = ntfscat("-i", "6", volume)
    total = os.path.getsize(volume) // cs
    bits = int.from_bytes(bitmap, "little")
    return cs, [n for n in range(total) if bits >> n & 1]


def ntfs_free_clusters(volume: str) -> int:
    return int(re.search(r"Free Clusters:\s+(\d+)", run("ntfsinfo", "-m", volume).stdout).group(1))


def assert_same_used(source: str, result: str, tree: dict) -> None:
    """Every cluster $Bitmap marks used is byte-identical; ntfs-3g finds the volume clean and
    reads the same files; every free cluster of ``result`` reads zero."""
    cs, used = used_clusters(source)
    assert used_clusters(result) == (cs, used)
    with open(source, "rb") as a, open(result, "rb") as b:
        old, new = a.read(), b.read()
    used_set = set(used)
    for n in range(len(old) // cs):
        piece = new[n * cs:(n + 1) * cs]
        if n in used_set:
            assert piece == old[n * cs:(n + 1) * cs], f"used cluster {n} changed"
        else:
            assert piece == bytes(cs), f"free cluster {n} still holds data"
    assert new[len(new) // cs * cs:] == old[len(old) // cs * cs:]  # backup boot sector
    assert run("ntfsfix", "-n", result).returncode == 0
    assert ntfs_free_clusters(result) == ntfs_free_clusters(source)
    files = [p for p, data in tree.items() if data][:8]
    for path in files:
        assert ntfscat(result, path) == tree[path]


def data_bytes(image: str, fmt: str) -> int:
    """Allocated data bytes as qemu-img map sees them."""
    out = json.loads(run("qemu-img", "map", "-f", fmt, "--output=json", image).stdout)
    return sum(e["length"] for e in out if e["data"])


def used_total(disk) -> int:
    """What the disk really uses: GPT, the FAT's used clusters and metadata, the NTFS's."""
    ntfs = extract(disk["image"], "raw", *disk["ntfs"], disk["tmp"] / "used.ntfs")
    info = run("ntfsinfo", "-m", ntfs).stdout
    cs = int(re.search(r"Cluster Size:\s+(\d+)", info).group(1))
    clusters = int(re.search(r"Volume Size in Clusters:\s+(\d+)", info).group(1))
    return (clusters - ntfs_free_clusters(ntfs)) * cs + 2 * MiB


def test_plain_convert_copies_the_leftovers(disk, tmp_path):
    """The baseline qemu-img also gives: the deleted data travels along."""
    out = tmp_path / "plain.vhd"
    diskkit("convert", "--to", "dynamic", disk["image"], out)
    assert data_bytes(str(out), "vpc") >= 40 * MiB


def test_convert_skip_free_to_dynamic(disk, tmp_path):
    out = tmp_path / "slim.vhd"
    result = json.loads(diskkit("convert", "--json", "--skip-free", "--to", "dynamic",
                                disk["image"], out).stdout)
    kinds = {v["volume"]: v["type"] for v in result["skipped_free"]["volumes"]}
    assert kinds == {"partition 1": "fat16", "partition 2": "ntfs"}
    assert "virtual size: 58 MiB" in run("qemu-img", "info", "-f", "vpc", out).stdout
    # about the used size: blocks partly used by metadata (MFT mirror, $LogFile) cost slack
    assert data_bytes(str(out), "vpc") <= used_total(disk) + 8 * MiB
    ntfs_src = extract(disk["image"], "raw", *disk["ntfs"], tmp_path / "a.ntfs")
    ntfs_out = extract(str(out), "vpc", *disk["ntfs"], tmp_path / "b.ntfs")
    assert_same_used(ntfs_src, ntfs_out, disk["tree"])
    esp = extract(str(out), "vpc", *disk["esp"], tmp_path / "esp.img")
    run("fsck.fat", "-n", esp)
    assert run("mtype", "-i", esp, "::/KEEP.BIN").stdout == "k" * 300000
    assert "TYPE=\"ntfs\"" in run("blkid", "-p", ntfs_out).stdout


def test_convert_skip_free_to_raw_leaves_holes(disk, tmp_path):
    out = tmp_path / "slim.img"
    diskkit("convert", "--skip-free", "--to", "raw", disk["image"], out)
    assert os.stat(out).st_blocks * 512 <= used_total(disk) + 8 * MiB
    ntfs_src = extract(disk["image"], "raw", *disk["ntfs"], tmp_path / "a.ntfs")
    ntfs_out = extract(str(out), "raw", *disk["ntfs"], tmp_path / "b.ntfs")
    assert_same_used(ntfs_src, ntfs_out, disk["tree"])


@pytest.mark.parametrize("container", ["raw", "dynamic"])
def test_compact_zero_free(disk, tmp_path, container):
    image = str(tmp_path / ("d.img" if container == "raw" else "d.vhd"))
    fmt = "raw" if container == "raw" else "vpc"
    run("qemu-img", "convert", "-f", "raw", "-O", fmt, *(["-o", "subformat=dynamic,force_size=on"]
                                                         if fmt == "vpc" else []),
        disk["image"], image)
    before = os.stat(image).st_blocks * 512
    result = json.loads(diskkit("compact", "--json", "--zero-free", image).stdout)
    assert result["zero_free"]["free_bytes"] > 20 * MiB
    after = os.stat(image).st_blocks * 512
    assert after <= used_total(disk) + 8 * MiB < before
    ntfs_src = extract(disk["image"], "raw", *disk["ntfs"], tmp_path / "a.ntfs")
    ntfs_out = extract(image, fmt, *disk["ntfs"], tmp_path / "b.ntfs")
    assert_same_used(ntfs_src, ntfs_out, disk["tree"])
    assert "clean" in diskkit("check", image).stdout


def test_unclean_ntfs_is_refused(disk, tmp_path):
    """A hibernated Windows: its saved session may use clusters $Bitmap calls free."""
    image = tmp_path / "hib.img"
    run("cp", "--sparse=always", disk["image"], image)
    hibernate(image, *disk["ntfs"], tmp_path)
    before = image.read_bytes()
    for argv in (["compact", "--zero-free", image],
                 ["convert", "--skip-free", "--to", "raw", image, tmp_path / "out.img"]):
        result = diskkit(*argv, check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "hibernated" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.img").exists()
    assert image.read_bytes() == before


def test_without_free_view():
    """Holes read as zeros and leave allocated_ranges; the rest reads through."""
    data = bytes(range(256)) * 64
    dev = MemoryDevice(data, writable=False)
    holes = [(100, 50), (1000, 3000), (15000, 1384)]
    view = WithoutFree(dev, holes)
    got = view.read_at(0, len(data))
    want = bytearray(data)
    for start, length in holes:
        want[start:start + length] = bytes(length)
    assert got == bytes(want)
    buf = memoryview(bytearray(500))
    view.read_into(900, buf)
    assert bytes(buf) == bytes(want[900:1400])
    assert list(view.allocated_ranges()) == [(0, 100), (150, 850), (4000, 11000)]


def test_corrupt_unreadable_volume_is_copied_whole(tmp_path):
    """An NTFS whose MFT cannot be read: its free space is unknown, so all of it is copied."""
    image = tmp_path / "bad.img"
    image.write_bytes(b"\xEB\x52\x90NTFS    " + bytes(512 - 11) + b"\x01" * (MiB - 512))
    result = json.loads(diskkit("convert", "--json", "--skip-free", "--to", "raw", image,
                                tmp_path / "o.img").stdout)
    assert result["skipped_free"]["free_bytes"] == 0
    assert "copied whole" in result["skipped_free"]["skipped"][0]
    assert (tmp_path / "o.img").read_bytes() == image.read_bytes()


def _spans(points: list[int], size: int) -> list[tuple[int, int]]:
    """Sorted, disjoint (offset, length) spans from cut points."""
    cuts = sorted({min(p, size) for p in points})
    return [(a, b - a) for a, b in zip(cuts[::2], cuts[1::2]) if b > a]


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 600), data=st.data())
def test_without_free_property(size, data):
    """Byte for byte: holes read zero, the rest reads through; allocated = allocated - holes."""
    points = st.lists(st.integers(0, size), max_size=12)
    allocated = _spans(data.draw(points), size)
    holes = _spans(data.draw(points), size)
    content = bytes((i % 251) + 1 for i in range(size))

    class Sparse(MemoryDevice):
        def allocated_ranges(self):
            return iter(allocated)

    view = WithoutFree(Sparse(content, writable=False), holes)
    in_hole = {i for start, n in holes for i in range(start, start + n)}
    assert view.read_at(0, size) == bytes(0 if i in in_hole else content[i] for i in range(size))
    got = list(view.allocated_ranges())
    assert all(n > 0 for _, n in got) and got == sorted(got)
    assert all(a + n <= b for (a, n), (b, _) in zip(got, got[1:]))
    covered = {i for start, n in got for i in range(start, start + n)}
    assert covered == {i for start, n in allocated for i in range(start, start + n)} - in_hole
