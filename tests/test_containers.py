"""Containers diskkit does not read are never read as raw disks; damaged VHD footers are found.

Foreign images are made by qemu-img in the test (qcow, qcow2, VMDK sparse and
descriptor, VDI, QED, Parallels); each command must refuse them with exit 2, naming the
format and the way out, and qemu-img must agree on the format.
"""

from __future__ import annotations

import json

import pytest
from support import diskkit, run

from diskkit import image, vhd
from diskkit.errors import CorruptImage, Unsupported
from diskkit.units import MiB

# (qemu-img format, options, what diskkit calls it)
FOREIGN = [
    ("qcow", [], "qcow (version 1)"),
    ("qcow2", [], "qcow2"),
    ("vmdk", ["-o", "subformat=monolithicSparse"], "VMDK"),
    ("vmdk", ["-o", "subformat=streamOptimized"], "VMDK"),
    ("vmdk", ["-o", "subformat=monolithicFlat"], "VMDK descriptor"),
    ("vdi", [], "VirtualBox VDI"),
    ("qed", [], "QED"),
    ("parallels", [], "Parallels"),
]


@pytest.fixture(scope="module", params=FOREIGN, ids=lambda f: f"{f[0]}{f[1][1:] and '-' + f[1][1]}")
def foreign(request, tmp_path_factory):
    fmt, opts, name = request.param
    path = tmp_path_factory.mktemp("foreign") / f"disk.{fmt}"
    run("qemu-img", "create", "-q", "-f", fmt, *opts, path, "8M")
    assert json.loads(run("qemu-img", "info", "--output=json", path).stdout)["format"] == fmt
    return str(path), name


@pytest.mark.parametrize("command", [["info"], ["check"], ["vhd", "info"], ["vhd", "check"],
                                     ["part", "show"], ["fat", "ls"], ["compact"],
                                     ["vmdk", "wrap"]])
def test_every_command_refuses_a_foreign_container(foreign, command):
    path, name = foreign
    proc = diskkit(*command, path, check=False)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert f"is a {name} image" in proc.stderr and "qemu-img convert" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_convert_never_wraps_a_foreign_container(foreign, tmp_path):
    path, name = foreign
    out = tmp_path / "out.vhd"
    proc = diskkit("convert", path, out, "--to", "fixed", check=False)
    assert proc.returncode == 2 and f"is a {name} image" in proc.stderr
    assert not out.exists()


def test_api_refuses_too(foreign):
    path, _ = foreign
    for action in (image.open_image, image.info, image.check):
        with pytest.raises(Unsupported):
            action(path)


def test_vmdk_descriptor_names_its_extent(tmp_path):
    desc = tmp_path / "d.vmdk"
    run("qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", desc, "1M")
    proc = diskkit("info", desc, check=False)
    assert proc.returncode == 2 and "'d-flat.vmdk'" in proc.stderr
    assert diskkit("info", tmp_path / "d-flat.vmdk").returncode == 0  # the extent is raw


def test_iso9660_is_a_disc_not_a_disk(tmp_path):
    iso = tmp_path / "disc.iso"
    data = bytearray(64 * 1024)
    data[32768:32774] = b"\x01CD001"  # a primary volume descriptor, as blkid and qemu see it
    iso.write_bytes(bytes(data))
    proc = diskkit("check", iso, check=False)
    assert proc.returncode == 2 and "ISO 9660" in proc.stderr and "extract" in proc.stderr


@pytest.mark.parametrize("length", [8, 108, 510])
def test_truncated_vhd_is_not_raw(tmp_path, length):
    good = tmp_path / "good.vhd"
    vhd.create(good, MiB, "dynamic")
    short = tmp_path / "short.vhd"
    short.write_bytes(good.read_bytes()[:length])
    for command in (["vhd", "info"], ["vhd", "check"], ["info"], ["check"]):
        proc = diskkit(*command, short, check=False)
        assert proc.returncode == 2 and "truncated VHD" in proc.stderr, (command, proc.stderr)
    with pytest.raises(CorruptImage):
        image.open_image(short)


@pytest.mark.parametrize("field", ["size", "type"])
def test_footer_copy_disagreeing_in_size_or_type_is_a_problem(tmp_path, field):
    path = tmp_path / "d.vhd"
    vhd.create(path, 8 * MiB, "dynamic")
    found = vhd.info(path)
    from diskkit.vhd.footer import DIFFERENCING, build_footer, parse_footer

    raw = bytearray(path.read_bytes())
    footer = parse_footer(bytes(raw[:512]))
    changed = footer.replace(current_size=4 * MiB) if field == "size" else \
        footer.replace(disk_type=DIFFERENCING)
    raw[:512] = build_footer(changed)
    path.write_bytes(bytes(raw))
    if field == "size":  # qemu reads the copy: it sees another disk than libvhdi would
        info = json.loads(run("qemu-img", "info", "--output=json", "-f", "vpc", path).stdout)
        assert info["virtual-size"] == 4 * MiB != found["virtual_size"]
    proc = diskkit("vhd", "check", path, check=False)
    assert proc.returncode == 1 and "vhd footer copy" in proc.stdout
    assert diskkit("vhd", "repair", path).returncode == 0
    assert diskkit("vhd", "check", path).returncode == 0
    assert diskkit("vhd", "repair", path).stdout.strip().endswith("nothing to repair")


def test_corpus_images_to_refuse_are_refused(corpus):
    """The corpus's rows marked ``refuse:`` (qcow, qcow2, sparse VMDK, differencing disks):
    ``info`` refuses each with one line and exit 2 (VHDX is read now, so it is not refused)."""
    rows = [r for r in corpus.expect() if r.expectation.startswith("refuse:")]
    assert len(rows) >= 5
    for row in rows:
        proc = diskkit("info", corpus.path(row.path), check=False)
        if row.expectation == "refuse:vhdx" and "differencing" not in row.path:
            assert proc.returncode == 0, (row.path, proc.stderr)
            continue
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (row.path, proc.stderr)
        named = {"refuse:qcow": "is a qcow (version 1) image", "refuse:qcow2": "is a qcow2 image",
                 "refuse:vmdk": "is a VMDK image"}.get(row.expectation, "")
        assert named in proc.stderr, (row.path, proc.stderr)
