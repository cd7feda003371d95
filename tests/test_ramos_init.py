"""`ramos init` images against sgdisk, sfdisk, fsck.fat, ntfs-3g and `boot config`'s output;
the Linux deploy (wimapply) against ntfs-3g's own reader."""

import json
import os
import subprocess

import pytest

from diskkit.errors import AlreadyExists, UsageError
from diskkit.ramos import linux
from diskkit.ramos.layout import init, layout_for
from diskkit.ramos.plan import make_plan
from diskkit.units import GiB, MiB
from support import diskkit, need_tool, run

SIZE = 256 * MiB


def raw_view(vhd, out):
    """The disk bytes of a fixed VHD without its footer, sparse (sgdisk wants the raw view)."""
    run("cp", "--sparse=always", vhd, out)
    os.truncate(out, os.path.getsize(vhd) - 512)
    return out


def extract(image, offset, size, out):
    run("dd", f"if={image}", f"of={out}", "bs=1M", f"skip={offset // MiB}",
        f"count={size // MiB}", "conv=sparse", "status=none")
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    need_tool("mkntfs")
    base = tmp_path_factory.mktemp("init")
    made = {}
    for chain in ("grub2-map", "ntloader"):
        path = str(base / f"{chain}.vhd")
        result = diskkit("ramos", "init", path, "--size", "256M", "--chain", chain, "--json")
        made[chain] = (path, json.loads(result.stdout))
    return base, made


def test_gpt_layout_passes_sgdisk_and_matches_plan(images):
    base, made = images
    path, result = made["grub2-map"]
    assert os.path.getsize(path) == SIZE + 512
    raw = raw_view(path, str(base / "gpt.raw"))
    verify = run("sgdisk", "-v", raw)
    assert "No problems found" in verify.stdout
    table = json.loads(run("sfdisk", "--json", raw).stdout)["partitiontable"]
    got = [(p["start"] * 512, p["size"] * 512, p["type"].lower(), p.get("name"))
           for p in table["partitions"]]
    plan = make_plan(SIZE, 16 * GiB, chain="grub2-map").layout
    assert got == [(p.start, p.size, p.type, p.name) for p in plan.partitions]
    assert [(p["start"], p["size"]) for p in result["layout"]["partitions"]] == \
        [(p.start, p.size) for p in plan.partitions]
    assert got[2][0] == 117 * MiB


def test_gpt_esp_is_valid_fat32_and_ntfs_formatted(images):
    base, made = images
    path, result = made["grub2-map"]
    esp = layout_for("grub2-map", SIZE).esp
    esp_img = extract(path, esp.start, esp.size, str(base / "esp.img"))
    fsck = run("fsck.fat", "-n", "-v", esp_img)
    assert "32 bit entries" in fsck.stdout and "512 bytes per cluster" in fsck.stdout
    assert f"{esp.start // 512} hidden sectors" in fsck.stdout
    clusters = [l for l in fsck.stdout.splitlines() if "data clusters" in l]
    assert clusters and int(clusters[0].split()[0]) >= 65525  # OVMF's FAT32 minimum
    win = layout_for("grub2-map", SIZE).windows
    assert result["ntfs_formatted"]
    ntfs = extract(path, win.start, win.size, str(base / "ntfs.img"))
    info = run("ntfsinfo", "-m", ntfs)
    assert "Volume Name: Windows" in info.stdout
    # the whole partition, less the sector NTFS keeps for its backup boot sector
    assert f"Volume Size in Clusters: {win.size // 4096 - 1}" in info.stdout


def test_mbr_layout_for_ramdisk_chains(images):
    base, made = images
    path, result = made["ntloader"]
    raw = raw_view(path, str(base / "mbr.raw"))
    table = json.loads(run("sfdisk", "--json", raw).stdout)["partitiontable"]
    assert table["label"] == "dos"
    (part,) = table["partitions"]
    assert (part["start"] * 512, part["size"] * 512, part["type"], part.get("bootable")) == \
        (MiB, SIZE - MiB, "7", True)
    assert result["layout"]["windows_offset"] == MiB
    assert linux.is_ntfs(path, MiB)


@pytest.mark.parametrize("chain,needle", [("ntloader", "imgofs=1048576"),
                                          ("bootmgr-ramdisk", "ramdiskimageoffset 1048576")])
def test_offsets_match_boot_config(images, chain, needle):
    _, made = images
    path, result = made["ntloader"]
    text = diskkit("boot", "config", "--chain", chain, "--vhd", path,
                   "--vhd-path", "D:\\ramos\\win.vhd").stdout
    assert needle in text
    from diskkit.boot.target import read_facts

    for name, (img, res) in made.items():
        facts = read_facts(img)
        assert facts.windows_offset == res["layout"]["windows_offset"] == \
            make_plan(SIZE, 16 * GiB, chain=name).layout.windows.start
        assert facts.container == "fixed"
    assert read_facts(made["grub2-map"][0]).esp_index == 1


def test_diskkit_own_checks(images):
    _, made = images
    for path, _ in made.values():
        assert diskkit("vhd", "check", path).returncode == 0
        assert diskkit("part", "verify", path).returncode == 0
    esp_check = diskkit("fat", "check", made["grub2-map"][0], "--part", "1")
    assert esp_check.returncode == 0
    diskkit("check", made["grub2-map"][0])


def test_init_refuses_and_leaves_nothing(tmp_path):
    out = tmp_path / "x.vhd"
    with pytest.raises(UsageError):
        init(str(out), 100 * MiB, "grub2-map")  # too small for ESP + MSR + Windows
    with pytest.raises(UsageError):
        init(str(out), SIZE + 512, "ntloader")  # not whole MiB
    assert os.listdir(tmp_path) == []
    init(str(out), 200 * MiB, "bootmgr-ramdisk", format_ntfs=False)
    assert not linux.is_ntfs(str(out), MiB)  # left for the deploy script's format
    with pytest.raises(AlreadyExists):
        init(str(out), 200 * MiB, "bootmgr-ramdisk")
    assert sorted(os.listdir(tmp_path)) == ["x.vhd"]


def test_preallocate_allocates(tmp_path):
    out = tmp_path / "p.vhd"
    init(str(out), 140 * MiB, "ntloader", preallocate=True, format_ntfs=False)
    assert os.stat(out).st_blocks * 512 >= 140 * MiB


def test_linux_deploy_applies_wim(tmp_path):
    need_tool("wimapply")
    need_tool("ntfscat")
    src = tmp_path / "src" / "Windows" / "System32"
    src.mkdir(parents=True)
    (src / "marker.txt").write_text("ramos marker\n")
    (src / "big.bin").write_bytes(os.urandom(3 * MiB))
    wim = tmp_path / "t.wim"
    run("wimcapture", tmp_path / "src", wim, "test")
    vhd = tmp_path / "w.vhd"
    init(str(vhd), 160 * MiB, "grub2-map", format_ntfs=False)
    res = diskkit("ramos", "script", "deploy", "--vhd", vhd, "--wim", wim, "--index", "1",
                  "--svbus", "D:\\svbus", "--run", "--windows-path", "D:\\ramos\\w.vhd", "--json")
    data = json.loads(res.stdout)
    assert any("mkntfs" in d for d in data["done"]) and any("wimapply" in d for d in data["done"])
    win = layout_for("grub2-map", 160 * MiB).windows
    part = extract(str(vhd), win.start, win.size, str(tmp_path / "p.img"))
    assert run("ntfscat", part, "/Windows/System32/marker.txt").stdout == "ramos marker\n"
    with open(src / "big.bin", "rb") as fh:
        big = subprocess.run(["ntfscat", part, "/Windows/System32/big.bin"], capture_output=True)
        assert big.stdout == fh.read()
    # the rest is a Windows script without format and apply, pointing at the Windows path
    rest = open(data["remaining_script"], encoding="utf-8").read()
    assert 'select vdisk file="D:\\ramos\\w.vhd"' in rest and "/Apply-Image" not in rest
    assert "format quick" not in rest and "/ForceUnsigned" in rest
    # the ESP and the table are untouched by the NTFS work
    assert diskkit("part", "verify", vhd).returncode == 0
    esp = layout_for("grub2-map", 160 * MiB).esp
    run("fsck.fat", "-n", extract(str(vhd), esp.start, esp.size, str(tmp_path / "e.img")))


def test_partition_file_clears_stale_data(tmp_path):
    """Copy-back zeroes what the tool zeroed, even where the scratch file is a hole."""
    img = tmp_path / "r.img"
    with open(img, "wb") as fh:
        fh.write(b"\xaa" * (4 * MiB))
    with linux.partition_file(str(img), MiB, 2 * MiB) as scratch:
        with open(scratch, "r+b") as fh:
            assert fh.read(16) == b"\xaa" * 16
            fh.truncate(0)
            fh.truncate(2 * MiB)  # all hole now
            fh.seek(MiB)
            fh.write(b"new")
    data = img.read_bytes()
    assert data[:MiB] == b"\xaa" * MiB and data[3 * MiB:] == b"\xaa" * MiB
    assert data[MiB:2 * MiB] == bytes(MiB)
    assert data[2 * MiB:2 * MiB + 3] == b"new" and data[2 * MiB + 3:3 * MiB] == bytes(MiB - 3)
    assert not any(n.startswith(".r.img") for n in os.listdir(tmp_path))
