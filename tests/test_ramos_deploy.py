"""The deploy workflow shared by `ramos script deploy` and `ramos build`: the Linux share
(mkntfs, wimapply) into any container, judged by ntfs-3g and qemu-img, and the Windows
script's paths, warnings and checks."""

import json
import os
import subprocess

import pytest
from hypothesis import given, strategies as st

from diskkit.ramos import linux
from diskkit.ramos.deploy import DeployRequest, options
from diskkit.ramos.layout import layout_for
from diskkit.units import MiB
from support import diskkit, need_tool, run


@pytest.fixture(scope="module")
def wim(tmp_path_factory):
    need_tool("wimcapture")
    base = tmp_path_factory.mktemp("wim")
    src = base / "src" / "Windows" / "System32"
    src.mkdir(parents=True)
    (src / "marker.txt").write_text("ramos marker\n")
    (src / "big.bin").write_bytes(os.urandom(2 * MiB))
    run("wimcapture", base / "src", base / "t.wim", "test")
    return base / "t.wim"


def ntfs_partition(vhd, tmp_path, chain="ntloader", size=160 * MiB):
    """The Windows partition's bytes as a raw file (qemu-img reads any container)."""
    raw = tmp_path / "disk.raw"
    run("qemu-img", "convert", "-O", "raw", vhd, raw)
    win = layout_for(chain, size).windows
    part = tmp_path / "part.img"
    run("dd", f"if={raw}", f"of={part}", "bs=1M", f"skip={win.start // MiB}",
        f"count={win.size // MiB}", "conv=sparse", "status=none")
    return part


def deploy_run(vhd, wim, *extra):
    need_tool("mkntfs")
    need_tool("wimapply")
    return diskkit("ramos", "script", "deploy", "--vhd", vhd, "--wim", wim, "--index", "1",
                   "--chain", "ntloader", "--run", *extra, check=False)


def test_dynamic_vhd_deploys_on_linux(wim, tmp_path):
    need_tool("ntfscat")
    fixed = tmp_path / "f.vhd"
    diskkit("ramos", "init", fixed, "--size", "160M", "--chain", "ntloader")
    dyn = tmp_path / "d.vhd"
    diskkit("convert", fixed, dyn, "--to", "dynamic")
    res = deploy_run(dyn, wim)
    assert res.returncode == 0, res.stderr
    part = ntfs_partition(dyn, tmp_path)
    assert run("ntfscat", part, "/Windows/System32/marker.txt").stdout == "ramos marker\n"
    big = subprocess.run(["ntfscat", part, "/Windows/System32/big.bin"], capture_output=True)
    assert big.stdout == (wim.parent / "src" / "Windows" / "System32" / "big.bin").read_bytes()
    assert diskkit("vhd", "check", dyn).returncode == 0
    info = json.loads(run("qemu-img", "info", "--output=json", dyn).stdout)
    assert info["format"] == "vpc" and info["actual-size"] < 100 * MiB  # still dynamic, sparse
    assert not [n for n in os.listdir(tmp_path) if "diskkit-tmp" in n]


def test_second_deploy_shows_wimapply_and_reformat_starts_fresh(wim, tmp_path):
    need_tool("ntfsls")
    vhd = tmp_path / "w.vhd"
    diskkit("ramos", "init", vhd, "--size", "160M", "--chain", "ntloader")
    assert deploy_run(vhd, wim).returncode == 0
    again = deploy_run(vhd, wim)
    assert again.returncode == 2
    (line,) = again.stderr.splitlines()
    assert "File exists" in line and "--reformat" in line and "NTFS-3G encountered" not in line
    fresh = deploy_run(vhd, wim, "--reformat")
    assert fresh.returncode == 0, fresh.stderr
    assert "formatted partition 1" in fresh.stdout
    listing = run("ntfsls", ntfs_partition(vhd, tmp_path), "-p", "/Windows/System32").stdout
    assert "marker.txt" in listing
    bad = diskkit("ramos", "script", "deploy", "--vhd", "D:\\w.vhd", "--wim", wim, "--index",
                  "1", "--reformat", check=False)
    assert bad.returncode == 2 and "--reformat is for --run on Linux" in bad.stderr


def test_wim_index_is_checked_before_anything_is_written(wim, tmp_path):
    vhd = tmp_path / "w.vhd"
    diskkit("ramos", "init", vhd, "--size", "160M", "--chain", "ntloader", "--no-ntfs")
    before = vhd.read_bytes()
    res = diskkit("ramos", "script", "deploy", "--vhd", vhd, "--wim", wim, "--index", "2",
                  "--chain", "ntloader", "--run", check=False)
    assert res.returncode == 2 and "holds 1 image(s)" in res.stderr
    assert vhd.read_bytes() == before and not (tmp_path / "w-deploy.cmd").exists()
    notwim = tmp_path / "x.wim"
    notwim.write_bytes(b"PK\x03\x04" + bytes(200))
    res = diskkit("ramos", "script", "deploy", "--vhd", "D:\\w.vhd", "--wim", notwim,
                  "--index", "1", check=False)
    assert res.returncode == 2 and "not a WIM or ESD file" in res.stderr
    # a WIM only the Windows side has is left to DISM
    ok = diskkit("ramos", "script", "deploy", "--vhd", "D:\\w.vhd", "--wim",
                 "E:\\sources\\install.wim", "--index", "6", "--chain", "ntloader")
    assert '/ImageFile:"E:\\sources\\install.wim" /Index:6' in ok.stdout


def test_linux_paths_become_windows_paths(tmp_path):
    vhd = tmp_path / "ramos" / "win.vhd"
    req = DeployRequest(vhd=str(vhd), wim="install.wim", index=1, chain="grub2-map",
                        drivers=str(tmp_path / "ramos" / "drivers"),
                        svbus=str(tmp_path / "ramos" / "svbus" / "x64"),
                        windows_path="E:\\boot\\win.vhd")
    opts = options(req, applied=True, platform="linux")
    assert (opts.vhd, opts.drivers, opts.svbus) == (
        "E:\\boot\\win.vhd", "E:\\boot\\drivers", "E:\\boot\\svbus\\x64")
    assert not opts.format and not opts.apply
    req.windows_path = None
    assert options(req, applied=True, platform="linux").drivers == "D:\\ramos\\drivers"
    req.drivers = "F:\\drv"  # already a Windows path: as given
    assert options(req, applied=True, platform="linux").drivers == "F:\\drv"
    req.drivers = str(tmp_path / "elsewhere")
    res = diskkit("ramos", "script", "deploy", "--vhd", vhd, "--wim", "install.wim", "--index",
                  "1", "--drivers", req.drivers, check=False)
    assert res.returncode == 2 and "outside the VHD's folder" in res.stderr
    assert "--drivers D:\\ramos\\drivers" in res.stderr


@pytest.mark.parametrize("chain", ["grub2-map", "grub4efi"])
def test_svbus_chain_without_svbus_warns_loudly(chain, tmp_path):
    res = diskkit("ramos", "script", "deploy", "--vhd", "D:\\r\\w.vhd", "--wim", "install.wim",
                  "--index", "1", "--chain", chain, "--out", tmp_path / "d.cmd")
    assert "INACCESSIBLE_BOOT_DEVICE (0x7B)" in res.stderr and "--svbus" in res.stderr
    quiet = diskkit("ramos", "script", "deploy", "--vhd", "D:\\r\\w.vhd", "--wim", "install.wim",
                    "--index", "1", "--chain", chain, "--svbus", "D:\\svbus",
                    "--out", tmp_path / "e.cmd")
    assert "0x7B" not in quiet.stderr
    ramdisk = diskkit("ramos", "script", "deploy", "--vhd", "D:\\r\\w.vhd", "--wim",
                      "install.wim", "--index", "1", "--chain", "ntloader",
                      "--out", tmp_path / "f.cmd")
    assert "0x7B" not in ramdisk.stderr


def test_wimapply_progress_passes_through(wim, tmp_path):
    need_tool("mkntfs")
    need_tool("wimapply")
    vhd = tmp_path / "w.vhd"
    diskkit("ramos", "init", vhd, "--size", "160M", "--chain", "ntloader")
    res = diskkit("--progress", "ramos", "script", "deploy", "--vhd", vhd, "--wim", wim,
                  "--index", "1", "--chain", "ntloader", "--run", "--json")
    assert "Applying image 1" in res.stderr  # wimapply's own words, on stderr
    assert json.loads(res.stdout)["done"]  # stdout stays pure JSON


def test_tool_message_picks_the_error_line():
    out = ("Applying image 1 (\"test\") from \"t.wim\" to NTFS volume \"p.img\"\n"
           "[ERROR] Error creating \"/Windows\" in NTFS volume: File exists\n"
           "ERROR: Exiting with error code 46:\n       NTFS-3G encountered an error.\n")
    assert linux.tool_message(out) == 'Error creating "/Windows" in NTFS volume: File exists'
    assert linux.tool_message("mkntfs: disk full\n") == "mkntfs: disk full"
    assert linux.tool_message("") is None


@given(count=st.integers(0, 2**32 - 1), part=st.integers(0, 65535), parts=st.integers(0, 65535),
       tail=st.binary(max_size=64))
def test_wim_header_round_trip(count, part, parts, tail):
    from diskkit.ramos.wim import WIM_HEADER, parse_header

    data = WIM_HEADER.build(dict(header_size=208, version=0x10d00, flags=0, chunk_size=32768,
                                 guid=bytes(16), part_number=part, total_parts=parts,
                                 image_count=count)) + tail
    header = parse_header(data)
    assert (header.image_count, header.part_number, header.total_parts) == (count, part, parts)


def test_wim_header_against_wiminfo(wim):
    """The image count read from the header is the one wimlib's own wiminfo reports."""
    from diskkit.ramos.wim import read_header

    need_tool("wimexport")
    import re

    run("wimexport", wim, "1", wim.parent / "two.wim")
    run("wimexport", wim, "1", wim.parent / "two.wim", "second")
    for path in (wim, wim.parent / "two.wim"):
        count = re.search(r"Image Count:\s+(\d+)", run("wiminfo", path).stdout).group(1)
        assert read_header(str(path)).image_count == int(count)
    assert read_header(str(wim.parent / "two.wim")).image_count == 2
