"""`ramos plan --from IMAGE`: the smallest VHD holding the Windows in an image, and the steps
to get there - followed for real on the Linux path (ntfsresize on the partition's bytes, as the
printed loop-device command does, then diskkit part resize and diskkit resize), judged by
ntfsinfo, ntfsfix -n, ntfscat and sgdisk -v. (`ramos script extend` runs in test_ramos_wine.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diskkit.ramos.shrink import MFT_RESERVE_MIN, Measured, shrink_plan
from diskkit.units import GiB, MiB
from support import diskkit, need_tool, run
from support.ntfs import hibernate, leftover_disk, make_tree


@pytest.fixture(scope="module")
def windows_disk(tmp_path_factory):
    for tool in ("mkntfs", "wimapply", "ntfsinfo", "ntfsresize"):
        need_tool(tool)
    tmp = tmp_path_factory.mktemp("shrink")
    src = tmp / "src"
    tree = make_tree(str(src), seed=21, files=30, depth=2, max_size=200_000)
    os.makedirs(src / "Windows" / "System32" / "config")
    (src / "Windows" / "System32" / "config" / "SYSTEM").write_bytes(b"regf" + bytes(8188))
    image = str(tmp / "win.img")
    where = leftover_disk(image, str(src), ntfs_size=48 * MiB)
    return {"image": image, "tree": tree, **where}


def ntfsinfo(volume: str) -> dict:
    out = run("ntfsinfo", "--force", "-m", volume).stdout
    get = {k: int(re.search(rf"{k}:\s+(\d+)", out).group(1))
           for k in ("Cluster Size", "Volume Size in Clusters", "Free Clusters")}
    cs = get["Cluster Size"]
    return {"used": (get["Volume Size in Clusters"] - get["Free Clusters"]) * cs,
            "size": get["Volume Size in Clusters"] * cs}


def partition_bytes(image: str, start: int, size: int, out) -> str:
    with open(image, "rb") as src, open(out, "wb") as dst:
        src.seek(start)
        dst.write(src.read(size))
    return str(out)


def test_plan_from_image_arithmetic_against_ntfsinfo(windows_disk, tmp_path):
    start, size = windows_disk["ntfs"]
    theirs = ntfsinfo(partition_bytes(windows_disk["image"], start, size, tmp_path / "v"))
    data = json.loads(diskkit("ramos", "plan", "--json", "--from", windows_disk["image"],
                              "--headroom", "2M", "--ssd-read", "100MB/s").stdout)
    assert data["partition"] == 2 and data["used_bytes"] == theirs["used"]
    assert data["mft_reserve"] == MFT_RESERVE_MIN
    need = -(-(theirs["used"] + MFT_RESERVE_MIN + 2 * MiB) // MiB) * MiB
    assert data["windows_partition_size"] == need
    assert data["smallest_vhd"] == -(-(start + need + 33 * 512) // MiB) * MiB
    saved = os.path.getsize(windows_disk["image"]) - data["smallest_vhd"]
    assert data["ram_saved"] == saved and data["seconds_saved"] == round(saved / 1e8, 2)
    assert data["recapture_vhd"] == 117 * MiB + need + MiB  # ramos init's GPT layout


def test_plan_steps_work_when_followed(windows_disk, tmp_path):
    """The Linux path, step by step, ends in a smaller image every tool accepts."""
    image = str(tmp_path / "win.img")
    shutil.copyfile(windows_disk["image"], image)
    start, size = windows_disk["ntfs"]
    data = json.loads(diskkit("ramos", "plan", "--json", "--from", image, "--headroom",
                              "2M").stdout)
    step1 = data["steps"][0]
    new = data["windows_partition_size"]
    assert f"ntfsresize --force --size {new} ${{LOOP}}p2" in step1
    assert f"diskkit part resize {image} 2 --size {new}" in step1
    volume = partition_bytes(image, start, size, tmp_path / "p2")
    run("ntfsresize", "--force", "--size", str(new), volume)  # what the loop device gets
    with open(volume, "rb") as src, open(image, "r+b") as dst:
        dst.seek(start)
        dst.write(src.read())
    diskkit("part", "resize", image, "2", "--size", str(new))
    assert data["steps"][1].endswith(f"diskkit resize {image} --size {data['smallest_vhd']}")
    diskkit("resize", image, "--size", str(data["smallest_vhd"]))
    assert os.path.getsize(image) == data["smallest_vhd"]
    assert "No problems found" in run("sgdisk", "-v", image, check=False).stdout
    out = partition_bytes(image, start, new, tmp_path / "small")
    run("ntfsfix", "-n", out)
    assert ntfsinfo(out)["used"] == ntfsinfo(volume)["used"]
    for path, content in windows_disk["tree"].items():
        if content is not None:
            got = subprocess.run(["ntfscat", "--force", out, path], capture_output=True, check=True)
            assert got.stdout == content, path
    assert "clean" in diskkit("check", image).stdout


def test_plan_from_in_chinese(windows_disk):
    out = diskkit("--lang", "zh-CN", "ramos", "plan", "--from", windows_disk["image"],
                  "--headroom", "1M").stdout
    assert "最小 VHD" in out and "第 1 步" in out and "省下内存" in out


def test_plan_from_refuses_a_hibernated_windows(windows_disk, tmp_path):
    image = tmp_path / "hib.img"
    shutil.copyfile(windows_disk["image"], image)
    hibernate(image, *windows_disk["ntfs"], tmp_path)
    out = diskkit("ramos", "plan", "--from", image, check=False)
    assert out.returncode == 2 and "hibernated" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_plan_from_usage_errors(windows_disk):
    for argv, says in ((["--from", windows_disk["image"], "--vhd-size", "5G"], "leave out"),
                       (["--from", windows_disk["image"], "--part", "1"], "holds no NTFS"),
                       (["--ram", "8G"], "--from IMAGE"),
                       (["--vhd-size", "5G", "--ram", "8G", "--headroom", "1G"], "go with")):
        out = diskkit("ramos", "plan", *argv, check=False)
        assert out.returncode == 2 and says in out.stderr and "Traceback" not in out.stderr


@settings(max_examples=200, deadline=None)
@given(start=st.integers(1, 4096).map(lambda n: n * MiB),
       used=st.integers(1 << 20, 64 * GiB), mft=st.integers(1 << 16, 4 * GiB),
       headroom=st.integers(0, 8 * GiB), after=st.sampled_from([0, 33 * 512, 500 * MiB]),
       spare=st.integers(0, 100 * GiB))
def test_shrink_arithmetic(start, used, mft, headroom, after, spare):
    size = -(-(used + mft + headroom) // MiB) * MiB + spare
    m = Measured("x.vhd", "fixed", start + size + after, 3, start, size, after, used, mft,
                 used + 4096)
    plan = shrink_plan(m, headroom, 1e9)
    assert plan.vhd_size % MiB == 0 and plan.ntfs_size % MiB == 0
    assert plan.ntfs_size >= used + headroom + plan.mft_reserve >= used + mft // 8
    assert plan.vhd_size >= start + plan.ntfs_size + after
    assert plan.vhd_size - (start + plan.ntfs_size + after) < MiB
    assert plan.ram_saved == max(0, m.disk_size - plan.vhd_size)
    bigger = shrink_plan(m, headroom + MiB, 1e9)
    assert bigger.vhd_size >= plan.vhd_size

