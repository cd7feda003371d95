"""esp build/create onto a directory, a FAT image and an image partition, read back with
mtools and fsck.fat (written by others); refusals are one-line errors."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diskkit.boot import esp
from diskkit.errors import NotFound, UsageError
from support import ENV, diskkit, need_tool, run
from support.boot import efi_stub


def mtype(image: str, path: str) -> bytes:
    need_tool("mtype")
    # UTF-8 locale so mtools can match non-ASCII long names given on its command line.
    return subprocess.run(["mtype", "-i", image, "::" + path], capture_output=True,
                          env=dict(ENV, LC_ALL="C.UTF-8"), check=True).stdout


@pytest.fixture
def files(tmp_path):
    loader = tmp_path / "grubx64.efi"
    loader.write_bytes(efi_stub(70_000))
    cfg = tmp_path / "grub.cfg"
    cfg.write_text("echo hi\n")
    extra = tmp_path / "ntl"
    (extra / "sub").mkdir(parents=True)
    (extra / "ntloader").write_bytes(b"N" * 5000)
    (extra / "sub" / "initrd.cpio").write_bytes(b"I" * 3000)
    return {"loader": str(loader), "cfg": str(cfg), "extra": str(extra)}


def fat_image(path, size="33M"):
    run("mkfs.fat", "-C", path, str(int(size[:-1]) * 1024))  # size in KiB
    return path


def test_plan_places_loader_removable_copy_config_and_adds(files):
    placements = esp.plan(files["loader"], r"\EFI\ramos\grubx64.efi", True, files["cfg"],
                          [esp.parse_add(f"{files['extra']}=/EFI/ntloader")])
    assert [p.dest for p in placements] == ["/EFI/ramos/grubx64.efi", "/EFI/BOOT/BOOTX64.EFI",
                                            "/EFI/ramos/grub.cfg", "/EFI/BOOT/grub.cfg",
                                            "/EFI/ntloader"]


def test_plan_refuses_collisions_missing_files_and_bad_specs(files):
    with pytest.raises(UsageError, match="same ESP path"):
        esp.plan(files["loader"], adds=[esp.Placement(files["cfg"], "/efi/RAMOS/GRUBX64.EFI")])
    with pytest.raises(NotFound):
        esp.plan(files["loader"] + ".missing")
    for bad in ["nodest", "=x", "a=relative/path", "a=/EFI/x\n.efi"]:
        with pytest.raises(UsageError):
            esp.parse_add(bad)


def test_build_on_fat_image_is_read_back_by_mtools_and_passes_fsck(tmp_path, files):
    image = fat_image(str(tmp_path / "esp.img"))
    out = diskkit("esp", "build", image, "--loader", files["loader"], "--removable",
                  "--config", files["cfg"], "--add", f"{files['extra']}=/EFI/ntloader", "--json")
    written = json.loads(out.stdout)["written"]
    assert "/EFI/ntloader/sub/initrd.cpio" in written and len(written) == 6
    loader = open(files["loader"], "rb").read()
    assert mtype(image, "/EFI/BOOT/BOOTX64.EFI") == loader
    assert mtype(image, "/EFI/ramos/grubx64.efi") == loader
    assert mtype(image, "/EFI/ramos/grub.cfg") == b"echo hi\n"
    assert mtype(image, "/EFI/ntloader/sub/initrd.cpio") == b"I" * 3000
    run("fsck.fat", "-n", image)
    # Updating replaces in place and leaves no temporary files behind.
    new = efi_stub(5000)
    with open(files["loader"], "wb") as fh:
        fh.write(new)
    diskkit("esp", "build", image, "--loader", files["loader"])
    assert mtype(image, "/EFI/ramos/grubx64.efi") == new
    listing = run("mdir", "-i", image, "-b", "-/", "::/").stdout
    assert "~" not in listing and ".new" not in listing.lower()
    run("fsck.fat", "-n", image)


def test_build_on_image_partition_finds_the_esp(tmp_path, files):
    image = str(tmp_path / "disk.vhd")
    diskkit("esp", "create", image, "--size", "40M", "--loader", files["loader"])
    diskkit("esp", "build", image, "--loader", files["loader"], "--loader-path", "/EFI/x/y.efi",
            "--add", f"{files['cfg']}=/EFI/x/y.cfg")
    assert mtype(f"{image}@@1M", "/EFI/x/y.cfg") == b"echo hi\n"
    assert mtype(f"{image}@@1M", "/EFI/ramos/grubx64.efi") == open(files["loader"], "rb").read()
    bad = diskkit("esp", "build", image, "--part", "7", "--loader", files["loader"], check=False)
    assert bad.returncode == 2 and "partition 7" in bad.stderr


def test_build_refuses_image_without_esp_and_part_on_directory(tmp_path, files):
    from diskkit.image import open_image
    from diskkit.part import add_partition, init_gpt

    image = str(tmp_path / "noesp.img")
    with open(image, "wb") as fh:
        fh.truncate(8 << 20)
    with open_image(image, writable=True) as dev:
        init_gpt(dev)
        add_partition(dev, "linux", None)
    proc = diskkit("esp", "build", image, "--loader", files["loader"], check=False)
    assert proc.returncode == 2 and "no EFI System Partition" in proc.stderr
    proc = diskkit("esp", "build", str(tmp_path), "--part", "1", "--loader", files["loader"],
                   check=False)
    assert proc.returncode == 2 and "directory" in proc.stderr
    proc = diskkit("esp", "build", str(tmp_path), check=False)
    assert proc.returncode == 2 and "--grub-mkimage" in proc.stderr


def test_build_on_directory_reuses_existing_names_ignoring_case(tmp_path, files):
    root = tmp_path / "mnt"
    (root / "efi" / "Boot").mkdir(parents=True)
    diskkit("esp", "build", root, "--loader", files["loader"], "--removable")
    assert sorted(os.listdir(root)) == ["efi"]
    assert sorted(os.listdir(root / "efi")) == ["Boot", "ramos"]
    assert (root / "efi" / "Boot" / "BOOTX64.EFI").read_bytes() == open(files["loader"], "rb").read()
    assert os.listdir(root / "efi" / "Boot") == ["BOOTX64.EFI"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(st.sampled_from(list("abcXYZ019 _-+=,;'&%!(){}") + ["é", "中"]),
                        min_size=1, max_size=20)
                .filter(lambda s: s.strip(" .") == s), min_size=1, max_size=3, unique_by=str.upper))
def test_hostile_esp_paths_round_trip_through_fat(tmp_path_factory, parts):
    """Whatever valid name diskkit accepts lands on the FAT volume under that exact name
    (no [ ]: mtools reads them as wildcards)."""
    tmp = tmp_path_factory.mktemp("hp")
    image = fat_image(str(tmp / "esp.img"), "2M")
    src = tmp / "f.bin"
    src.write_bytes(b"payload")
    dest = "/" + "/".join(parts)
    esp.build(image, [esp.Placement(str(src), esp.normalize_file_path(dest, "dest")[1])])
    assert mtype(image, dest) == b"payload"


def test_esp_create_refuses_existing_output_and_leaves_nothing_on_failure(tmp_path, files):
    out = tmp_path / "esp.vhd"
    out.write_bytes(b"keep")
    proc = diskkit("esp", "create", out, "--size", "40M", "--loader", files["loader"], check=False)
    assert proc.returncode == 2 and "exists" in proc.stderr and out.read_bytes() == b"keep"
    small = tmp_path / "small.vhd"
    proc = diskkit("esp", "create", small, "--size", "20M", "--fat", "32", "--loader",
                   files["loader"], check=False)
    assert proc.returncode == 2 and "FAT32" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["esp.vhd", "grub.cfg", "grubx64.efi", "ntl"]


def test_file_fat_cannot_hold_is_refused_before_anything_is_written(tmp_path, files):
    """A 4 GiB file (a sparse one: FAT32 holds 4 GiB - 1 byte at most) given to --add, alone or
    inside a folder: one line, exit 2, the ESP image untouched and no new image made."""
    big = tmp_path / "ntl" / "boot.wim"
    with open(big, "wb") as fh:
        fh.truncate(4 << 30)
    image = fat_image(str(tmp_path / "esp.img"))
    before = open(image, "rb").read()
    for add in (f"{big}=/sources/boot.wim", f"{files['extra']}=/EFI/ntloader"):
        proc = diskkit("esp", "build", image, "--loader", files["loader"], "--add", add,
                       check=False)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "boot.wim" in proc.stderr and "4 GiB - 1 byte" in proc.stderr
        assert open(image, "rb").read() == before
    proc = diskkit("esp", "create", tmp_path / "new.vhd", "--size", "40M", "--loader",
                   files["loader"], "--add", f"{big}=/boot.wim", check=False)
    assert proc.returncode == 2 and "largest file FAT can hold" in proc.stderr
    assert not (tmp_path / "new.vhd").exists()
    run("fsck.fat", "-n", image)


def test_grub_mkimage_refusals_name_the_reason(tmp_path):
    need_tool("grub-mkimage")
    proc = diskkit("esp", "build", tmp_path, "--grub-mkimage", "--chain", "grub2-map", check=False)
    assert proc.returncode == 2 and "map" in proc.stderr and "a1ive" in proc.stderr
    proc = diskkit("esp", "build", tmp_path, "--grub-mkimage", "--chain", "grub4efi", check=False)
    assert proc.returncode == 2  # argparse: grub4efi is not a GRUB chain


def test_grub_mkimage_builds_a_pe_binary_with_the_chain_modules(tmp_path):
    need_tool("grub-mkimage")
    out = diskkit("esp", "build", tmp_path, "--grub-mkimage", "--chain", "loopback-test",
                  "--json").stdout
    assert json.loads(out)["written"] == ["/EFI/ramos/grubx64.efi"]
    binary = (tmp_path / "EFI" / "ramos" / "grubx64.efi").read_bytes()
    assert binary[:2] == b"MZ" and b"PE\0\0" in binary[:1024]
    for module in (b"loopback", b"search_fs_file", b"efifwsetup"):
        assert module in binary
    assert b"/EFI/ramos" in binary  # the prefix: grub.cfg is read from the loader's directory


# -- what esp build refuses or warns about ---------------------------------------------------------

@pytest.mark.parametrize("head,reason", [
    (b"echo hi\n" * 20, "no MZ header"),
    (efi_stub(4096, machine=0xAA64), "ARM64, not x86-64"),
    (efi_stub(4096, machine=0x14C), "32-bit x86, not x86-64"),
    (efi_stub(4096, subsystem=3), "Windows console program, not an EFI application"),
    (b"MZ" + bytes(62) + b"ELF!" + bytes(200), "no PE header"),
])
def test_loader_that_is_not_an_x86_64_efi_application_is_refused(tmp_path, head, reason):
    loader = tmp_path / "loader.efi"
    loader.write_bytes(head)
    proc = diskkit("esp", "build", tmp_path, "--loader", loader, check=False)
    assert proc.returncode == 2 and reason in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "EFI").exists()


def test_real_grub_efi_binary_passes_the_pe_check(tmp_path):
    from diskkit.boot.efiapp import check_loader

    need_tool("grub-mkimage")
    out = tmp_path / "g.efi"
    run("grub-mkimage", "-O", "x86_64-efi", "-p", "/x", "-o", out, "normal")
    check_loader(str(out))  # no exception


def test_config_is_installed_under_the_name_its_loader_reads(tmp_path, files):
    cfg = tmp_path / "lt.cfg"
    cfg.write_text("timeout 1\n")
    (tmp_path / "a").mkdir()
    proc = diskkit("esp", "build", tmp_path / "a", "--loader", files["loader"], "--config", cfg,
                   check=False)
    assert proc.returncode == 2 and "--chain" in proc.stderr and "lt.cfg" in proc.stderr
    (tmp_path / "b").mkdir()
    out = diskkit("esp", "build", tmp_path / "b", "--loader", files["loader"], "--chain",
                  "grub4efi", "--loader-path", r"\EFI\grub\BOOTX64.EFI", "--config", cfg,
                  "--removable", "--json").stdout
    assert json.loads(out)["written"] == ["/EFI/grub/BOOTX64.EFI", "/EFI/BOOT/BOOTX64.EFI",
                                          "/EFI/grub/menu.lst", "/EFI/BOOT/menu.lst"]
    proc = diskkit("esp", "build", tmp_path / "b", "--loader", files["loader"], "--chain",
                   "bootmgr-ramdisk", check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_chain_files_missing_from_the_esp_are_named(tmp_path, files):
    (tmp_path / "esp").mkdir()
    proc = diskkit("esp", "build", tmp_path / "esp", "--loader", files["loader"], "--chain",
                   "ntloader", "--config", files["cfg"])
    assert "/EFI/ntloader/ntloader is not on the ESP" in proc.stderr
    assert "/EFI/ntloader/initrd.cpio is not on the ESP" in proc.stderr
    proc = diskkit("esp", "build", tmp_path / "esp", "--loader", files["loader"], "--chain",
                   "ntloader", "--add", f"{files['extra']}/ntloader=/EFI/ntloader/ntloader",
                   "--add", f"{files['extra']}/sub/initrd.cpio=/EFI/ntloader/initrd.cpio")
    assert "not on the ESP" not in proc.stderr


def test_chain_loader_refused_inside_a_ramos_vhd_own_esp_without_force(tmp_path, files):
    vhd = str(tmp_path / "win.vhd")
    diskkit("ramos", "init", vhd, "--size", "200M", "--chain", "grub2-map", "--no-ntfs")
    args = ["esp", "build", vhd, "--loader", files["loader"], "--chain", "grub2-map",
            "--config", files["cfg"]]
    proc = diskkit(*args, check=False)
    assert proc.returncode == 2 and "Microsoft reserved partition" in proc.stderr
    assert "machine's own ESP" in proc.stderr and "--force" in proc.stderr
    proc = diskkit("esp", "build", vhd, "--loader", files["loader"], "--config", files["cfg"],
                   check=False)
    assert proc.returncode == 2 and "RAM loader (/EFI/ramos/grub.cfg)" in proc.stderr
    diskkit(*args, "--force")
    # the VHD's own boot files (bcdboot's job) are not a chain's loader: no refusal
    diskkit("esp", "build", vhd, "--loader", files["loader"], "--loader-path",
            r"\EFI\BOOT\BOOTX64.EFI")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 600), st.integers(0, 0xFFFF), st.integers(0, 20))
def test_pe_check_judges_any_bytes_and_only_accepts_x86_64_efi_apps(data, pe, machine, subsystem):
    """Hypothesis: arbitrary heads and arbitrary PE fields; a verdict, never an exception."""
    from diskkit.boot.efiapp import describe

    assert describe(data) is None or isinstance(describe(data), str)
    head = bytearray(efi_stub(1024, machine, subsystem))
    head[0x3C:0x40] = pe.to_bytes(4, "little")
    head[pe:pe + 4] = b"PE\0\0"
    head[pe + 4:pe + 6] = machine.to_bytes(2, "little")
    head[pe + 92:pe + 94] = subsystem.to_bytes(2, "little")
    ok = describe(bytes(head)) is None
    assert ok == (machine == 0x8664 and subsystem == 10 and pe >= 0x40)
