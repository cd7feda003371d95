"""`ramos build`: the sample recipe's dry run, then a real run on Linux checked by the oracles."""

import json
import os
import shutil

import pytest

from diskkit.errors import UsageError
from diskkit.ramos.recipe import build, load_recipe
from diskkit.units import MiB
from support import diskkit, need_tool, run

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures")
STEPS = ["plan", "vhd", "drivers", "apply", "deploy-script", "boot-config", "esp", "firmware-entry"]


def workdir(tmp_path, size=None, wim=True):
    """The sample recipe in ``tmp_path`` with its drivers and (``wim``) a one-image install.wim."""
    shutil.copytree(os.path.join(FIXTURES, "drivers"), tmp_path / "drivers")
    (tmp_path / "ntloader-release").mkdir()  # stand-ins for ntloader's release files
    (tmp_path / "ntloader-release" / "ntloader").write_bytes(b"ntloader stand-in")
    (tmp_path / "ntloader-release" / "initrd.cpio").write_bytes(b"initrd stand-in")
    text = open(os.path.join(FIXTURES, "ramos.toml"), encoding="utf-8").read()
    if size:
        text = text.replace('size = "3900M"', f'size = "{size}"')
    (tmp_path / "ramos.toml").write_text(text, encoding="utf-8")
    if wim:
        src = tmp_path / "src" / "Windows"
        src.mkdir(parents=True)
        (src / "marker.txt").write_text("built\n")
        run("wimcapture", tmp_path / "src", tmp_path / "install.wim", "test")
    return str(tmp_path / "ramos.toml")


def test_dry_run_lists_steps_and_writes_nothing(tmp_path):
    need_tool("wimapply")
    recipe = workdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    data = json.loads(diskkit("ramos", "build", recipe, "--dry-run", "--json").stdout)
    assert [s["step"] for s in data["steps"]] == STEPS
    assert [s["status"] for s in data["steps"]] == ["info"] + ["would run"] * 7
    assert "Windows partition at byte 1048576" in data["steps"][0]["detail"]
    assert sorted(os.listdir(tmp_path)) == before


def test_real_run_on_linux_then_everything_skips(tmp_path):
    for tool in ("wimapply", "mkntfs", "grub-mkimage", "grub-script-check", "ntfscat"):
        need_tool(tool)
    recipe = workdir(tmp_path, "160M")
    first = build(load_recipe(recipe))
    assert [(s["step"], s["status"]) for s in first] == [("plan", "info")] + \
        [(s, "ran") for s in STEPS[1:]]
    out = tmp_path / "build"
    vhd = str(out / "win.vhd")
    # the VHD: MBR + one NTFS partition at 1 MiB holding the applied WIM
    raw = str(tmp_path / "raw")
    run("cp", "--sparse=always", vhd, raw)
    os.truncate(raw, 160 * MiB)
    (part,) = json.loads(run("sfdisk", "--json", raw).stdout)["partitiontable"]["partitions"]
    assert (part["start"], part["type"]) == (2048, "7")
    run("dd", f"if={vhd}", f"of={tmp_path / 'p.img'}", "bs=1M", "skip=1", "count=159",
        "conv=sparse", "status=none")
    assert run("ntfscat", tmp_path / "p.img", "/Windows/marker.txt").stdout == "built\n"
    assert diskkit("vhd", "check", vhd).returncode == 0
    # the driver pack keeps the matching storage package only
    manifest = json.loads((out / "drivers" / "manifest.json").read_text(encoding="utf-8"))
    assert [p["path"] for p in manifest["packages"]] == ["contstor.inf_amd64_0123456789abcdef"]
    # the loader config: valid GRUB script carrying the real offset
    cfg = (out / "grub.cfg").read_text()
    assert "imgofs=1048576" in cfg and "ram=/ramos/win.vhd" in cfg
    run("grub-script-check", out / "grub.cfg")
    # the ESP image: loader, removable copy and config, FAT clean
    esp = str(out / "esp.img")
    assert diskkit("fat", "check", esp, "--part", "1").returncode == 0
    assert diskkit("part", "verify", esp).returncode == 0
    listing = run("mdir", "-b", "-i", f"{esp}@@1M", "::/EFI/ramos").stdout
    assert "grubx64.efi" in listing and "grub.cfg" in listing
    assert run("mtype", "-i", f"{esp}@@1M", "::/EFI/ntloader/initrd.cpio").stdout == "initrd stand-in"
    assert run("mtype", "-i", f"{esp}@@1M", "::/EFI/BOOT/grub.cfg").stdout == cfg
    size = json.loads(run("sfdisk", "--json", esp).stdout)["partitiontable"]["partitions"][0]["size"]
    run("dd", f"if={esp}", f"of={tmp_path / 'e.img'}", "bs=512", "skip=2048", f"count={size}",
        "status=none")
    run("fsck.fat", "-n", tmp_path / "e.img")
    # the Windows script: no format, no apply (done on Linux), drivers from the Windows path
    cmd = (out / "deploy.cmd").read_text(encoding="utf-8")
    assert 'select vdisk file="D:\\ramos\\win.vhd"' in cmd and "/Apply-Image" not in cmd
    assert '/Driver:"D:\\ramos\\drivers" /Recurse' in cmd and "format quick" not in cmd
    assert "bcdboot V:\\Windows /s V: /f BIOS" in cmd
    entry = (out / "firmware-entry.cmd").read_bytes()
    assert entry.startswith(b"bcdedit /copy {bootmgr} /d RAMOS\r\n")
    assert b"path \\EFI\\ramos\\grubx64.efi" in entry

    again = build(load_recipe(recipe))
    assert [s["status"] for s in again] == ["info"] + ["skipped"] * 7
    os.unlink(out / "grub.cfg")  # a missing output reruns its step and those built on it
    third = {s["step"]: s["status"] for s in build(load_recipe(recipe))}
    assert third["boot-config"] == "ran" and third["esp"] == "ran" and third["apply"] == "skipped"


def test_existing_foreign_vhd_is_not_clobbered(tmp_path):
    recipe = workdir(tmp_path, "160M", wim=False)
    text = open(recipe, encoding="utf-8").read().replace("apply_on_linux = true",
                                                         "apply_on_linux = false")
    open(recipe, "w", encoding="utf-8").write(text)
    (tmp_path / "build").mkdir()
    diskkit("ramos", "init", tmp_path / "build" / "win.vhd", "--size", "160M", "--chain",
            "grub2-map", "--no-ntfs")
    res = diskkit("ramos", "build", recipe, check=False)
    assert res.returncode == 2 and "not a 167772160-byte ntloader VHD" in res.stderr
    assert res.stderr.splitlines()[-1].startswith("diskkit: error: step vhd failed:")


@pytest.mark.parametrize("text,message", [
    ("[vhd]\npath='a.vhd'\n", "needs size"),
    ("[vhd]\npath='a.vhd'\nsize='5G'\n[bogus]\nx=1\n", "unknown section"),
    ("[vhd]\npath='a.vhd'\nsize='5G'\ncolor='red'\n", "no key 'color'"),
    ("[vhd]\npath='a.vhd'\nsize=5\n", "must be a str"),
    ("[vhd\n", "not valid TOML"),
    ("[boot]\nvhd_path='/x'\nconfig='c'\n", "needs a [vhd]"),
])
def test_recipe_validation(tmp_path, text, message):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        load_recipe(str(path))


def test_windows_build_leaves_apply_to_the_script(tmp_path):
    need_tool("grub-mkimage")
    need_tool("wimcapture")
    recipe = workdir(tmp_path, "160M")
    steps = {s["step"]: s for s in build(load_recipe(recipe), platform="win32")}
    assert steps["apply"]["status"] == "windows"
    cmd = (tmp_path / "build" / "deploy.cmd").read_text(encoding="utf-8")
    vhd, wim = str(tmp_path / "build" / "win.vhd"), str(tmp_path / "install.wim")
    assert f'select vdisk file="{vhd}"' in cmd
    assert f'/Apply-Image /ImageFile:"{wim}" /Index:1 /ApplyDir:V:\\ /Compact' in cmd
    assert '/Driver:"D:\\ramos\\drivers" /Recurse' in cmd  # [windows] drivers wins when given


def test_every_input_is_checked_before_anything_is_written(tmp_path):
    need_tool("wimapply")
    recipe = workdir(tmp_path, "160M")
    text = open(recipe, encoding="utf-8").read()
    text = text.replace("index = 1", "index = 3").replace('source = "drivers"', 'source = "nodrv"')
    text = text.replace('loader = "grub-mkimage"', 'loader = "missing.efi"')
    open(recipe, "w", encoding="utf-8").write(text)
    os.unlink(tmp_path / "ntloader-release" / "ntloader")
    before = sorted(os.listdir(tmp_path))
    for extra in (["--dry-run"], []):
        res = diskkit("ramos", "build", recipe, *extra, check=False)
        assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
        for needle in ("--index 3: ", "holds 1 image(s)", "[drivers] source", "nodrv: no such folder",
                       "[esp] loader", "missing.efi: no such file", "[esp] add",
                       "ntloader: no such file"):
            assert needle in res.stderr
        assert sorted(os.listdir(tmp_path)) == before


def test_steps_are_shown_as_they_happen_and_a_failure_names_what_was_made(tmp_path):
    need_tool("wimapply")
    need_tool("mkntfs")
    recipe = workdir(tmp_path, "160M")
    wim = tmp_path / "install.wim"
    os.truncate(wim, wim.stat().st_size // 2)  # a good header, then wimapply fails
    res = diskkit("ramos", "build", recipe, check=False)
    lines = res.stderr.splitlines()
    assert res.returncode == 2 and lines[-1].startswith("diskkit: error: step apply failed: "
                                                        "wimapply failed"), res.stderr
    assert lines.index(next(ln for ln in lines if ln.startswith("[vhd] fixed VHD"))) < \
        lines.index(next(ln for ln in lines if ln.startswith("[vhd] ran: created")))
    assert any(line.startswith("[apply] wimapply") and line.endswith("...") for line in lines)
    assert "made before it and kept: vhd, drivers" in lines[-1] and "continues from apply" in lines[-1]
    assert os.path.exists(tmp_path / "build" / "win.vhd")
    quiet = diskkit("--quiet", "ramos", "build", recipe, check=False)
    assert quiet.stderr.splitlines() == [quiet.stderr.splitlines()[-1]]


def test_a_file_fat_cannot_hold_is_refused_before_anything_is_written(tmp_path):
    """An [esp] add of 4 GiB (sparse) or a folder holding one: refused with one line by the
    input check, so the VHD is never created; a folder is an accepted [esp] add."""
    need_tool("wimapply")
    recipe = workdir(tmp_path, "160M")
    with open(tmp_path / "ntloader-release" / "initrd.cpio", "wb") as fh:
        fh.truncate(4 << 30)
    before = sorted(os.listdir(tmp_path))
    for extra in (["--dry-run"], []):
        res = diskkit("ramos", "build", recipe, *extra, check=False)
        assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
        assert "[esp] add: " in res.stderr and "initrd.cpio (for /EFI/ntloader/initrd.cpio " \
            "on the ESP): 4 GiB" in res.stderr and "4 GiB - 1 byte" in res.stderr
        assert sorted(os.listdir(tmp_path)) == before
    text = open(recipe, encoding="utf-8").read()
    text = text.replace('add = ["ntloader-release/ntloader=/EFI/ntloader/ntloader",',
                        'add = ["ntloader-release=/EFI/ntloader",')
    text = text.replace('       "ntloader-release/initrd.cpio=/EFI/ntloader/initrd.cpio"]', "]")
    open(recipe, "w", encoding="utf-8").write(text)
    res = diskkit("ramos", "build", recipe, "--dry-run", check=False)
    assert res.returncode == 2 and "initrd.cpio (for /EFI/ntloader/initrd.cpio on the ESP)" \
        in res.stderr, res.stderr
    os.truncate(tmp_path / "ntloader-release" / "initrd.cpio", 100)
    diskkit("ramos", "build", recipe, "--dry-run")  # the folder itself is a valid [esp] add
