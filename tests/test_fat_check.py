"""``fat check`` finds each kind of damage that fsck.fat also finds; hostile images never hang."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import diskkit, run
from support.fat import fsck, new_image, open_volume

from diskkit.blockdev import MemoryDevice
from diskkit.errors import DiskkitError
from diskkit.fat import FatFS, check, mkfs, repair
from diskkit.units import MiB


def _base(tmp_path, fat_type=32):
    img = new_image(tmp_path / "v.img", 40 * MiB)
    dev = open_volume(img)
    mkfs(dev, fat_type=fat_type, label="BASE")
    with FatFS(dev) as fs:
        fs.mkdir("/dir/sub", parents=True)
        fs.write_file("/dir/A Long Name.txt", b"a" * 3000)
        fs.write_file("/dir/b.bin", b"b" * 1500)
        fs.write_file("/c.txt", b"c" * 10)
        info = {p: fs.stat(p) for p in ("/dir", "/dir/sub", "/dir/A Long Name.txt", "/dir/b.bin")}
        offsets = {p: fs.entry_offsets(p) for p in info}
        layout = fs.layout
    dev.close()
    assert check(open_volume(img, writable=False)).clean
    return img, layout, info, offsets


def _poke(img, offset, data):
    with open(img, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def _fat_entry(layout, cluster, copy=0):
    return layout.fat_offset(copy) + cluster * 4


def _messages(img):
    rep = check(open_volume(img, writable=False))
    assert not rep.clean
    return " | ".join(str(p) for p in rep.errors)


def _corrupt(kind, img, layout, info, offsets):
    a, b = info["/dir/A Long Name.txt"], info["/dir/b.bin"]
    if kind == "fat copies differ":
        _poke(img, _fat_entry(layout, 100, copy=1), b"\x07\x00\x00\x00")
        return "differs from FAT"
    if kind == "cross-link":
        _poke(img, offsets["/dir/b.bin"][1] + 26, struct.pack("<H", a.cluster))
        _poke(img, offsets["/dir/b.bin"][1] + 28, struct.pack("<I", 3000))
        return "cross-linked"
    if kind == "lost":
        for copy in (0, 1):
            _poke(img, _fat_entry(layout, 1000, copy), b"\xff\xff\xff\x0f")
        return "lost cluster"
    if kind == "size vs chain":
        _poke(img, offsets["/dir/b.bin"][1] + 28, struct.pack("<I", 900_000))
        return "shorter than the file size"
    if kind == "lfn checksum":
        first, short = offsets["/dir/A Long Name.txt"]
        for slot in range(first, short, 32):  # every piece agrees, the short name does not
            with open(img, "rb") as fh:
                fh.seek(slot + 13)
                old = fh.read(1)[0]
            _poke(img, slot + 13, bytes([old ^ 0x55]))
        return "bad checksum"
    if kind == "orphan lfn":
        _poke(img, offsets["/dir/A Long Name.txt"][1], b"\xe5")
        return "without its short entry"
    if kind == "invalid short name":
        _poke(img, offsets["/dir/b.bin"][1], b"?")
        return "invalid character '?'"
    if kind == "dotdot":
        sub = info["/dir/sub"]
        _poke(img, layout.cluster_offset(sub.cluster) + 32 + 26, struct.pack("<H", 77))
        return "'..' points to cluster 77"
    if kind == "fsinfo":
        _poke(img, layout.fsinfo_sector * 512 + 488, struct.pack("<I", 5))
        return "free count 5"
    if kind == "backup boot":
        _poke(img, 6 * 512 + 3, b"CHANGED!")
        return "differs from its backup"
    if kind == "loop":
        for copy in (0, 1):
            _poke(img, _fat_entry(layout, b.cluster, copy), struct.pack("<I", b.cluster))
        return "loops"
    if kind == "dir contains itself":
        sub = info["/dir/sub"]
        _poke(img, offsets["/dir/sub"][1] + 26, struct.pack("<H", info["/dir"].cluster))
        return "already part of"
    raise AssertionError(kind)


KINDS = ["fat copies differ", "cross-link", "lost", "size vs chain", "lfn checksum",
         "orphan lfn", "invalid short name", "dotdot", "fsinfo", "backup boot", "loop",
         "dir contains itself"]


# fsck.fat -n reports these and exits 0 ("not auto-correcting", "mostly harmless"): warnings
WARNINGS = {"lfn checksum", "backup boot"}


@pytest.mark.parametrize("kind", KINDS)
def test_check_finds_what_fsck_finds(tmp_path, kind):
    img, layout, info, offsets = _base(tmp_path)
    expected = _corrupt(kind, img, layout, info, offsets)
    report = check(open_volume(img, writable=False))
    found = [p for p in report.problems if expected in p.message]
    assert found, report.to_text()
    assert found[0].severity == ("warning" if kind in WARNINGS else "error"), report.to_text()
    proc = diskkit("fat", "check", img, "--json", check=False)
    verdict = fsck(img)
    assert proc.returncode == verdict.returncode, (proc.stdout, verdict.stdout)
    if kind in ("lfn checksum", "orphan lfn"):  # mtools no longer shows the long name either
        assert "A Long Name.txt" not in run("mdir", "-i", img, "::dir").stdout


def test_fat32_with_too_few_clusters_is_legal_but_not_as_an_esp(tmp_path):
    img = new_image(tmp_path / "small32.img", 20 * MiB)
    run("mkfs.fat", "-F", "32", img)
    report = check(open_volume(img, writable=False))
    assert report.clean and "UEFI firmware refuses it" in report.to_text()
    assert fsck(img).returncode == 0  # fsck.fat warns, and accepts it
    assert not check(open_volume(img, writable=False), esp=True).clean
    assert diskkit("fat", "check", img, check=False).returncode == 0
    assert diskkit("fat", "check", "--esp", img, check=False).returncode == 1


@pytest.mark.parametrize("kind", ["loop", "dir contains itself", "size vs chain"])
def test_hostile_images_give_errors_not_hangs(tmp_path, kind):
    img, layout, info, offsets = _base(tmp_path)
    _corrupt(kind, img, layout, info, offsets)
    for args in (["tree", img], ["get", "-r", img, "/", str(tmp_path / "out")],
                 ["cat", img, "/dir/b.bin"]):
        proc = diskkit("fat", *args, check=False)
        assert proc.returncode in (0, 2), proc.stderr
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    if kind == "size vs chain":
        assert diskkit("fat", "cat", img, "/dir/b.bin", check=False).returncode == 2


_TEMPLATE = {}


def _template() -> bytes:
    if not _TEMPLATE:
        dev = MemoryDevice(4 * MiB)
        mkfs(dev, fat_type=12, volume_id=1)
        fs = FatFS(dev)
        fs.mkdir("/a/b", parents=True)
        fs.write_file("/a/Long File Name.txt", b"x" * 5000)
        fs.write_file("/a/b/c", b"y" * 700)
        fs.close()
        _TEMPLATE["img"] = bytes(dev.buf[:64 * 1024])
    return _TEMPLATE["img"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 64 * 1024 - 1), st.integers(0, 255)), min_size=1,
                max_size=40))
def test_random_corruption_never_crashes(pokes):
    """Random byte damage: every reader gives data or a DiskkitError, check gives a Report."""
    data = bytearray(_template())
    for offset, value in pokes:
        data[offset] = value
    dev = MemoryDevice(bytes(data) + bytes(4 * MiB - len(data)), writable=False)
    report = check(dev)
    assert report.exit_code in (0, 1)
    try:
        fs = FatFS(dev)
        for dpath, entries in fs.walk("/"):
            for e in entries:
                if not e.is_dir:
                    sum(len(c) for c in fs.iter_read(fs.join(dpath, e.name)))
    except DiskkitError:
        pass


class _PowerCut(MemoryDevice):
    """A device that fails every write after the first ``budget`` ones (an interruption)."""

    budget = 10**9

    def _write(self, offset, data):
        if self.budget <= 0:
            from diskkit.errors import ImageIOError

            raise ImageIOError("power cut")
        self.budget -= 1
        super()._write(offset, data)


# What one interrupted operation may leave besides warnings (lost clusters, a stale FSInfo
# count or FAT copy on a volume flagged dirty): the dirty flag itself (an error, as for
# fsck.fat), and a moved directory or file under two names.
MOVE_TRACES = ("marked dirty", "already part of", "cross-linked", "'..' points")


def _ops(fs):
    fs.mkdir("/a/b", parents=True)
    fs.write_file("/a/b/Long Name File.txt", b"x" * 9000)
    fs.write_file("/a/small", b"s")
    fs.write_file("/a/b/Long Name File.txt", b"y" * 3000)
    fs.rename("/a/b", "/moved")
    fs.rename("/a/small", "/moved/small, moved")
    fs.remove("/a", recursive=True)
    fs.write_file("/after", b"z" * 5000)


@pytest.mark.parametrize("fat_type", [12, 32])
def test_interrupted_operations_repair_cleanly(fat_type):
    """Cut the power after every single write: check finds only what one interruption can
    leave, and ``repair`` turns that into a clean volume without losing a file."""
    base = _PowerCut(40 * MiB if fat_type == 32 else 2 * MiB)
    mkfs(base, fat_type=fat_type, cluster_size=512, volume_id=1)
    image = bytes(base.buf)
    total = _PowerCut(image)
    with FatFS(total) as fs:
        _ops(fs)
    writes = 10**9 - total.budget
    probe = _PowerCut(image)
    with FatFS(probe) as fs:
        fs.mkdir("/a/b", parents=True)
        fs.write_file("/a/b/Long Name File.txt", b"x" * 9000)
        fs.write_file("/a/small", b"s")
        fs.write_file("/a/b/Long Name File.txt", b"y" * 3000)
        first_mv_write = 10**9 - probe.budget
        fs.rename("/a/b", "/moved")
        mv_done = 10**9 - probe.budget
    for cut in range(writes):  # every possible interruption point
        dev = _PowerCut(image)
        dev.budget = cut
        try:
            with FatFS(dev) as fs:
                _ops(fs)
        except DiskkitError:
            pass
        dev.budget = 10**9
        report = check(dev)
        for problem in report.errors:  # nothing a single interruption cannot explain
            assert any(w in problem.message for w in MOVE_TRACES), (cut, report.to_text())
        if report.problems:
            assert FatFS(dev).dirty, (cut, report.to_text())
        after = repair(dev)  # and repair turns it into a clean volume, losing no file
        assert after.clean and not after.problems, (cut, after.to_text())
        fs = FatFS(dev)
        files = {fs.join(d, e.name): fs.read_file(fs.join(d, e.name))
                 for d, entries in fs.walk("/") for e in entries if not e.is_dir}
        for path, data in files.items():
            assert set(data) <= {ord("x"), ord("y"), ord("s"), ord("z")}, (cut, path)
        if first_mv_write <= cut <= mv_done:  # the moved file survives under one name
            assert "/moved/Long Name File.txt" in files or "/a/b/Long Name File.txt" in files


REPAIRABLE = ["fat copies differ", "lost", "lfn checksum", "orphan lfn", "fsinfo", "backup boot"]


@pytest.mark.parametrize("kind", REPAIRABLE)
def test_repair_fixes_safe_damage(tmp_path, kind):
    img, layout, info, offsets = _base(tmp_path)
    _corrupt(kind, img, layout, info, offsets)
    proc = diskkit("fat", "repair", img, check=False)
    assert proc.returncode == 0 and "repaired:" in proc.stdout, proc.stdout + proc.stderr
    assert check(open_volume(img, writable=False)).clean
    proc = fsck(img)
    assert proc.returncode == 0, proc.stdout
    with FatFS(open_volume(img, writable=False)) as fs:
        assert fs.read_file("/dir/b.bin") == b"b" * 1500
        assert fs.read_file("/c.txt") == b"c" * 10


@pytest.mark.parametrize("kind", ["cross-link", "loop", "dir contains itself"])
def test_repair_refuses_what_needs_a_decision(tmp_path, kind):
    img, layout, info, offsets = _base(tmp_path)
    _corrupt(kind, img, layout, info, offsets)
    before = open(img, "rb").read()
    proc = diskkit("fat", "repair", img, check=False)
    assert proc.returncode == 2 and "cannot repair safely" in proc.stderr
    assert open(img, "rb").read() == before


def test_dirty_flag_up_only_while_writing(tmp_path):
    img, layout, info, offsets = _base(tmp_path)
    raw = open(img, "rb").read(512)
    assert raw[65] == 0  # every finished operation lowered the flag again
    dev = _PowerCut(open(img, "rb").read())
    fs = FatFS(dev)
    dev.budget = 3  # the flag, the data, one FAT copy: then the power goes
    with pytest.raises(DiskkitError):
        fs.write_file("/dir/new.bin", b"n" * 5000)
    dev.budget = 10**9
    assert dev.buf[65] & 1
    report = check(dev)
    assert [p.message for p in report.errors if "marked dirty" not in p.message] == []
    assert not report.clean  # as for fsck.fat: "Dirty bit is set"
    assert any("lost cluster" in p.message and p.severity == "warning" for p in report.problems)
    after = repair(dev)
    assert after.clean and not after.problems and dev.buf[65] == 0
    assert "cleared the dirty flag" in after.facts["repaired"]
