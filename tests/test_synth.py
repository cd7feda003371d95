"""diskkit.synth and `diskkit synth`: descriptions, reproducible bytes, shrinking, the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest
from hypothesis import HealthCheck, find, given, settings
from support import diskkit, run
from support.synth import assert_accepted

from diskkit import testing
from diskkit.errors import UsageError
from diskkit.fat import FatFS
from diskkit.image import open_image
from diskkit.part import partition_device
from diskkit.synth import Description, build, describe, make, space, write_tree
from diskkit.units import MiB

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_simplest_image_for_constraints(tmp_path):
    """What the fixture builds: an ESP holding the files, at the first MiB, nothing else."""
    img = make(describe(table="gpt", fs="fat32", files={"EFI/BOOT/BOOTX64.EFI": b"MZ" * 300}),
               tmp_path / "esp.img")
    desc = img.description
    (esp,) = desc.partitions
    assert desc.container.kind == "raw" and esp.start == MiB
    assert esp.type_name == "EFI system partition"
    volume = esp.filesystem
    assert (volume.fat_type, volume.cluster_count, volume.cluster_size) == (32, 65525, 512)
    with open_image(img.path) as dev, FatFS(partition_device(dev, 1)) as fs:
        assert fs.read_file("/EFI/BOOT/BOOTX64.EFI") == b"MZ" * 300
    assert_accepted(img.path, desc, tmp_path)


@pytest.mark.parametrize("fat_type, edge, clusters", [
    (12, "low", 1), (12, "high", 4084), (16, "low", 4085), (16, "high", 65524),
    (32, "low", 65525), (16, "low+1", 4086), (12, "high-1", 4083)])
def test_volumes_at_the_cluster_count_edges(fat_type, edge, clusters, tmp_path):
    class Edge(space.MinimalPicker):
        def choice(self, options):
            return edge if edge in options else options[0]

    volume = space.fat_volume(Edge(), fat_type, 512, max_size=64 * MiB)
    assert volume.cluster_count == clusters
    img = make(volume, tmp_path / "edge.img")
    assert_accepted(img.path, img.description, tmp_path)


def test_same_seed_same_bytes_and_source_date_epoch(tmp_path, monkeypatch):
    """Across processes (the CLI twice) and in-process; SOURCE_DATE_EPOCH sets every stamp."""
    args = ("--seed", "11", "--container", "dynamic", "--table", "mbr", "--fs", "fat16",
            "--files", "6")
    for name in ("a.vhd", "b.vhd"):
        diskkit("synth", tmp_path / name, *args)
    assert sha(tmp_path / "a.vhd") == sha(tmp_path / "b.vhd")
    make(describe(11, container="dynamic", table="mbr", fs="fat16", files=6), tmp_path / "c.vhd")
    assert sha(tmp_path / "c.vhd") == sha(tmp_path / "a.vhd")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")  # 2001-09-09 01:46:40 UTC
    desc = describe(11, container="dynamic", table="mbr", fs="fat16", files=6)
    assert desc.timestamp == 1000000000
    make(desc, tmp_path / "d.vhd")
    assert sha(tmp_path / "d.vhd") != sha(tmp_path / "a.vhd")
    info = json.loads(run("qemu-img", "info", "-f", "vpc", "--output=json",
                          tmp_path / "d.vhd").stdout)
    assert info["virtual-size"] == desc.container.size
    assert json.loads(diskkit("vhd", "info", tmp_path / "d.vhd", "--json").stdout)[
        "timestamp"].startswith("2001-09-09T01:46:40")
    run("qemu-img", "convert", "-f", "vpc", "-O", "raw", tmp_path / "d.vhd", tmp_path / "d.raw")
    volume_partition = desc.volumes()[0][0]
    listing = run("mdir", "-a", "-i", f"{tmp_path / 'd.raw'}@@{volume_partition.start}",
                  "::").stdout
    assert set(re.findall(r"\d{4}-\d\d-\d\d", listing)) == {"2001-09-09"}, listing


@pytest.mark.parametrize("container", ["vhdx", "vhdx-fixed"])
def test_same_seed_same_vhdx_bytes(container, tmp_path):
    """Header GUIDs too: a VHDX write derives them from the time stamp, the disk and the
    file's name (so the same name in two folders)."""
    for folder in ("a", "b"):
        diskkit("synth", tmp_path / folder / "disk.vhdx", "--seed", "4", "--container",
                container, "--table", "gpt", "--fs", "fat12", "--files", "3", "--sector-size",
                "512")
    assert sha(tmp_path / "a" / "disk.vhdx") == sha(tmp_path / "b" / "disk.vhdx")
    run("qemu-img", "check", "-f", "vhdx", tmp_path / "a" / "disk.vhdx")


@pytest.mark.parametrize("container", ["raw", "fixed", "dynamic", "vhdx"])
def test_scratch_images_skip_fsync_durable_ones_do_not(container, tmp_path, monkeypatch):
    """make() (scratch, durable=False) never fsyncs, in any container; build() does, and
    both images read back the same."""
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    desc = describe(7, container=container, table="gpt", fs="fat16", sector_size=512)
    scratch = make(desc, tmp_path / "scratch")
    assert synced == []
    build(desc, tmp_path / "durable")
    assert synced
    with open_image(scratch.path) as a, open_image(str(tmp_path / "durable")) as b:
        assert a.read_at(0, a.size) == b.read_at(0, b.size)


@FAST
@given(testing.descriptions())
def test_descriptions_round_trip_through_json(desc):
    again = Description.from_json(desc.to_json())
    assert again == desc and again.to_json() == desc.to_json()


@FAST
@given(testing.damaged_images(max_size=8 * MiB))
def test_damaged_descriptions_round_trip_through_json(img):
    desc = img.description
    assert Description.from_json(desc.to_json()) == desc and desc.damage[0].expect


SHRINK = settings(max_examples=300, database=None, deadline=None)


def test_draws_shrink_to_small_plain_images():
    """What hypothesis reports when a property fails: the smallest image that fails it."""
    disk = find(testing.descriptions(), lambda d: d.volumes(), settings=SHRINK)
    assert disk.container.kind == "raw" and disk.table is None
    assert disk.filesystem.fat_type == 12 and disk.container.size < MiB
    assert disk.filesystem.files == []
    two = find(testing.descriptions(table="gpt"), lambda d: len(d.partitions) >= 2, settings=SHRINK)
    assert len(two.partitions) == 2 and two.container.size < 3 * MiB  # 1 MiB alignment
    assert all(p.filesystem is None and p.name == "" for p in two.partitions)
    tree = find(testing.file_trees(), lambda files: len(files) >= 3, settings=SHRINK)
    assert [f.size for f in tree] == [0, 0, 0] and all(f.path.count("/") == 0 for f in tree)
    logical = find(testing.partition_layouts(table="mbr"),
                   lambda t: any(p.logical for p in t.partitions), settings=SHRINK)
    assert [p.logical for p in logical.partitions] == [False, True]


@FAST
@given(tree=testing.file_trees(cluster_size=2048))
def test_file_trees_are_valid_fat_trees(tree, tmp_path_factory):
    paths = [f.path for f in tree]
    assert len({p.casefold() for p in paths}) == len(paths)
    for f in tree:
        assert all(part and part[-1] not in " ." for part in f.path.split("/"))
        assert len(f.content()) == f.size
    write_tree(tree, tmp_path_factory.mktemp("tree"))


def test_impossible_constraints_are_usage_errors():
    with pytest.raises(UsageError, match="FAT32 volume with 4096-byte sectors"):
        describe(0, fs="fat32", sector_size=4096)  # at most 64 MiB when drawn
    with pytest.raises(UsageError, match="needs table gpt"):
        describe(3, damage="gpt-entries-crc", table="mbr")
    with pytest.raises(UsageError, match="files need a filesystem"):
        describe(files=3, fs="none")
    with pytest.raises(UsageError, match="unknown container"):
        testing.images(container="qcow2")


def test_cli_describes_what_it_wrote(tmp_path):
    out = tmp_path / "d.img"
    data = json.loads(diskkit("synth", out, "--seed", "5", "--table", "gpt", "--fs", "fat12",
                              "--files", "3", "--json").stdout)
    assert data.pop("path") == str(out)
    desc = Description.from_dict(data)
    assert desc == describe(5, table="gpt", fs="fat12", files=3)
    assert_accepted(out, desc, tmp_path)
    text = diskkit("synth", tmp_path / "t.img", "--seed", "5", "--corrupt",
                   "gpt-overlapping-partitions").stdout
    assert "damage gpt-overlapping-partitions:" in text and "reported by diskkit check" in text


def test_cli_refusals_leave_nothing_behind(tmp_path):
    out = tmp_path / "x.img"
    for args, message in [(("--table", "mbr", "--corrupt", "gpt-entries-crc"), "needs table gpt"),
                          (("--fs", "fat32", "--max-size", "8M"), "no FAT32 volume"),
                          (("--corrupt", "no-such-damage"), "unknown damage 'no-such-damage'")]:
        proc = diskkit("synth", out, *args, check=False)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not os.listdir(tmp_path)
    out.write_bytes(b"keep")
    proc = diskkit("synth", out, "--seed", "1", check=False)
    assert proc.returncode != 0 and "already exists" in proc.stderr and out.read_bytes() == b"keep"
    diskkit("synth", out, "--seed", "1", "--force")
    assert out.stat().st_size > 4
