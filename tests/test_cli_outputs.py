"""Every command that writes an output: missing folders, files in the way, Windows paths,
and options before positionals. A user error is one line and exit 2, never "internal error".
"""

from __future__ import annotations

import os
import shutil

import pytest

from support import diskkit, diskkit_inprocess, need_tool
from support.reliability import assert_clean_outcome, assert_error
from support.uefi import grub_efi

# {OUT} is the output under test; {IMG}, {EFI}, {DRV} are inputs made by the fixture.
WRITERS = [
    "vhd create {OUT} --size 1M",
    "convert {IMG} {OUT} --to dynamic",
    "esp create {OUT} --size 64M --loader {EFI}",
    "boot config --chain ntloader --vhd {IMG} --vhd-path /ramos/w.vhd --out {OUT}",
    "ramos init {OUT} --size 200M --chain ntloader --no-ntfs",
    "ramos script deploy --vhd D:\\r\\w.vhd --wim install.wim --index 1 --chain ntloader "
    "--out {OUT}",
    "ramos script slim --out {OUT}",
    "vmdk wrap {IMG} --out {OUT}",
    "vmdk wrap {IMG} --out {OUT}.vmdk --vmx {OUT}",
    "drivers pack {DRV} --out {OUT}",
]
DRIVERS = os.path.join(os.path.dirname(__file__), "..", "fixtures", "drivers")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("inputs")
    img = base / "w.vhd"
    diskkit("ramos", "init", img, "--size", "200M", "--chain", "ntloader", "--no-ntfs")
    efi = grub_efi(str(base / "grubx64.efi"))
    return {"IMG": str(img), "EFI": efi, "DRV": DRIVERS}


def argv(template: str, out: str, inputs: dict, work) -> list[str]:
    words = template.split(" ")
    return [w.format(OUT=out, WORK=work, **inputs) for w in words]


@pytest.mark.parametrize("template", WRITERS)
def test_output_in_new_folders_is_created(template, inputs, tmp_path):
    out = tmp_path / "new" / "deeper" / "out.vhd"
    proc = diskkit_inprocess(*argv(template, str(out), inputs, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert not [n for n in os.listdir(out.parent) if "diskkit-tmp" in n]


@pytest.mark.parametrize("template", WRITERS)
def test_output_under_a_file_or_onto_a_folder_is_one_line(template, inputs, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    err = assert_error(diskkit_inprocess(*argv(template, str(blocker / "x" / "out"), inputs,
                                            tmp_path)), template)
    assert "file.txt" in err and "not a folder" in err
    (tmp_path / "adir").mkdir()
    proc = diskkit_inprocess(*argv(template, str(tmp_path / "adir"), inputs, tmp_path))
    if template.startswith("drivers pack"):  # an empty folder is a fine place for a pack
        assert_clean_outcome(proc, template)
    else:
        assert "is a directory" in assert_error(proc, template)
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.name == "nt", reason="a drive path is a real path on Windows")
@pytest.mark.parametrize("template", WRITERS)
def test_windows_path_on_linux_is_refused(template, inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = assert_error(diskkit_inprocess(*argv(template, "D:\\ramos\\out.vhd", inputs, tmp_path)),
                       template)
    assert "Windows path" in err
    assert os.listdir(tmp_path) == [] or not any(n.startswith("D:") for n in os.listdir(tmp_path))


def test_failed_create_removes_the_folders_it_made(inputs, tmp_path):
    out = tmp_path / "a" / "b" / "w.vhd"
    err = assert_error(diskkit_inprocess("ramos", "init", out, "--size", "3M", "--chain", "ntloader"))
    assert "too small" in err
    assert os.listdir(tmp_path) == []


def test_permission_denied_folder_is_one_line(inputs, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        err = assert_error(diskkit_inprocess("vhd", "create", locked / "sub" / "x.vhd", "--size", "1M"))
        assert "cannot create the folder" in err
    finally:
        locked.chmod(0o700)


# -- options before positionals ----------------------------------------------------------------

@pytest.fixture(scope="module")
def esp(inputs, tmp_path_factory):
    path = tmp_path_factory.mktemp("esp") / "esp.vhd"
    diskkit("esp", "create", path, "--size", "64M", "--loader", inputs["EFI"], "--removable")
    return str(path)


@pytest.mark.parametrize("args", [
    ["fat", "ls", "-l", "{ESP}", "--part", "1", "/EFI/BOOT"],
    ["fat", "ls", "{ESP}", "--part", "1", "-l", "/EFI/BOOT"],
    ["fat", "tree", "{ESP}", "--part", "1", "/EFI"],
    ["fat", "stat", "{ESP}", "--part", "1", "/EFI/BOOT/BOOTX64.EFI"],
    ["fat", "ls", "--part", "1", "{ESP}", "/EFI/BOOT"],
])
def test_positionals_after_options(args, esp):
    proc = diskkit(*(a.format(ESP=esp) for a in args))
    assert "BOOTX64.EFI" in proc.stdout


def test_positional_after_option_subprocess(esp, tmp_path):
    """The README's own form, as a user types it."""
    out = diskkit("fat", "get", esp, "--part", "1", "/EFI/BOOT/BOOTX64.EFI", tmp_path / "x.efi")
    assert out.returncode == 0 and (tmp_path / "x.efi").stat().st_size > 0
    need_tool("mdir")


def test_missing_input_files_are_one_line(tmp_path):
    missing = str(tmp_path / "missing.vhd")
    for args in (["vhd", "info", missing], ["info", missing], ["part", "show", missing],
                 ["convert", missing, tmp_path / "o.vhd", "--to", "fixed"],
                 ["boot", "config", "--chain", "ntloader", "--vhd", missing, "--vhd-path", "/x.vhd"],
                 ["ramos", "build", tmp_path / "missing.toml"],
                 ["drivers", "scan", tmp_path / "nodir"], ["vmdk", "wrap", missing],
                 ["vm", "qemu", missing], ["resize", missing, "--size", "1G"]):
        assert_error(diskkit_inprocess(*args), " ".join(map(str, args)))
    assert not (tmp_path / "o.vhd").exists()
    shutil.rmtree(tmp_path)
