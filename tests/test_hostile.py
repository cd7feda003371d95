"""Hostile images (tests/support/hostile.py) through every read command, and safe extraction.

Read commands run through the CLI's ``main`` in process (hundreds of them; the subprocess
path is covered by test_fuzz_corpus.py); extraction runs as a real subprocess.

Each damaged image must produce a clear one-line error or a check report, never a traceback,
a hang or a huge allocation; a real inconsistency must never be called clean by the check of
its layer. ``fat get -r`` must write nothing outside its destination and never follow a
symbolic link out of it, whatever names the image holds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from benchmarks import fuzz_targets
from support import assert_command, diskkit, diskkit_inprocess, hostile
from support.reliability import assert_clean_outcome, memory_limit, time_limit

COMMANDS = {
    "raw": [("info",), ("check",), ("part", "show"), ("part", "verify"), ("ramos", "doctor"),
            ("bcd", "show")],
    "vhd": [("info",), ("check",), ("vhd", "info"), ("vhd", "check"), ("part", "show"),
            ("ramos", "doctor"), ("bcd", "show")],
    "vhdx": [("info",), ("check",), ("vhdx", "info"), ("vhdx", "check"), ("part", "show"),
             ("ramos", "doctor"), ("bcd", "show")],
    "fat": [("info",), ("check",), ("fat", "ls", "-l"), ("fat", "tree"), ("fat", "info"),
            ("fat", "check"), ("ramos", "doctor"), ("bcd", "show")],
    "ntfs": [("info",), ("check",), ("ntfs", "info"), ("ntfs", "ls", "-l", "-r", "-a"),
             ("ntfs", "check"), ("ramos", "doctor"), ("bcd", "show")],
}
LAYER_CHECK = {"raw": ("part", "verify"), "vhd": ("vhd", "check"), "vhdx": ("vhdx", "check"),
               "fat": ("fat", "check"), "ntfs": ("ntfs", "check")}


_OUTDIR = tempfile.mkdtemp(prefix="diskkit-hostile-")
atexit.register(shutil.rmtree, _OUTDIR, True)
VARIANTS = {v.name: v for v in hostile.all_variants(_OUTDIR)}  # built once, ~4 s
NAMES = list(VARIANTS)


@pytest.fixture(scope="module")
def variants():
    return VARIANTS


def argv(command: tuple, img: str) -> list[str]:
    return [*command, img]


def test_corpus_covers_the_issue():
    """The generated corpus holds every kind of damage issue 8 names."""
    wanted = ["truncated", "bad-crc", "bad-checksum", "bat-entry-outside", "bat-entries-alias",
              "huge-entry-count", "overlapping-entries", "chain-loops", "contains-itself",
              "name-dotdot", "name-slash", "name-backslash", "name-drive-letter",
              "name-control-chars"]
    for word in wanted:
        assert any(word in n for n in NAMES), word


@pytest.mark.parametrize("name", NAMES)
def test_read_commands(variants, name):
    hostile = variants[name]
    commands = COMMANDS[hostile.kind]
    for command in commands:
        assert_command(*command)
    procs = [diskkit_inprocess(*argv(c, hostile.path)) for c in commands]
    for command, proc in zip(commands, procs):
        assert_clean_outcome(proc, f"{name}: diskkit {' '.join(command)}")
    layer = LAYER_CHECK[hostile.kind]
    if layer in commands:
        proc = procs[commands.index(layer)]
        if hostile.corrupt:
            assert proc.returncode in (1, 2), (
                f"{name}: `diskkit {' '.join(layer)}` called a damaged image clean:\n{proc.stdout}")
        if name.endswith("clean-control"):  # the control proves the check can say clean
            assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"


FREE_SPACE_KINDS = ("raw", "vhd", "fat", "ntfs")


@pytest.mark.parametrize("name", [n for n in NAMES if VARIANTS[n].kind in FREE_SPACE_KINDS])
def test_free_space_writers(variants, name, tmp_path):
    """convert --skip-free and compact --zero-free read each volume's allocation bitmap: a
    damaged one gives a clean outcome, a failed run leaves no output and the input as it was."""
    hostile = variants[name]
    out = tmp_path / "out.img"
    proc = diskkit_inprocess("convert", "--skip-free", "--to", "raw", hostile.path, out)
    assert_clean_outcome(proc, f"{name}: convert --skip-free", allowed=(0, 2))
    assert out.exists() == (proc.returncode == 0)
    copy = tmp_path / Path(hostile.path).name
    shutil.copyfile(hostile.path, copy)
    proc = diskkit_inprocess("compact", "--zero-free", copy)
    assert_clean_outcome(proc, f"{name}: compact --zero-free", allowed=(0, 2))
    if proc.returncode:
        assert copy.read_bytes() == Path(hostile.path).read_bytes()


PIPELINES = {
    "raw": ("gpt", lambda path: fuzz_targets.table_pipeline(Path(path).read_bytes())),
    "vhd": ("vhd_footer", lambda path: fuzz_targets.vhd_pipeline(Path(path).read_bytes())),
    "vhdx": ("vhdx_header", fuzz_targets.vhdx_pipeline_on),
    "fat": ("fat_boot", lambda path: fuzz_targets.fat_pipeline_on(
        fuzz_targets.PatchedDevice(Path(path).read_bytes(), 0, b""))),
    "ntfs": ("ntfs_boot", lambda path: fuzz_targets.ntfs_pipeline_on(
        fuzz_targets.PatchedDevice(Path(path).read_bytes(), 0, b""))),
}


@pytest.mark.parametrize("name", NAMES)
def test_python_api(variants, name):
    """The same images through the Python API: DiskkitError only, bounded time and memory."""
    from diskkit.errors import DiskkitError

    hostile = variants[name]
    target, pipeline = PIPELINES[hostile.kind]
    fuzz_targets.TARGETS[target].load()
    size = os.path.getsize(hostile.path)
    with time_limit(30, name), memory_limit(2 * size + (48 << 20), name):
        try:
            pipeline(hostile.path)
        except DiskkitError as exc:
            assert "\n" not in str(exc), f"multi-line error: {exc!r}"


# -- extraction -------------------------------------------------------------------------------

def snapshot(root: Path, skip: Path) -> dict:
    """Every path under ``root`` except the destination, with its content (files) or target."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == skip or skip in here.parents:
            continue
        for name in dirnames + filenames:
            p = here / name
            if p.is_symlink():
                found[str(p)] = ("link", os.readlink(p))
            elif p.is_file():
                found[str(p)] = ("file", p.read_bytes())
    return found


def assert_inside(dest: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            real = Path(dirpath, name).resolve() if not Path(dirpath, name).is_symlink() \
                else Path(dirpath).resolve() / name
            assert dest.resolve() in real.parents, f"{real} is outside {dest}"


EXTRACT_CASES = [n for n in NAMES if n.startswith("name-")] + [
    "fat-directory-contains-itself", "fat-subdirectory-points-at-root",
    "fat-directory-chain-loops", "fat-chain-loops-to-itself"]


@pytest.mark.parametrize("name", EXTRACT_CASES)
def test_get_recursive_stays_inside(variants, name, tmp_path):
    assert_command("fat", "get")
    hostile = variants[name]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"must stay\n")
    dest = tmp_path / "work" / "dest"
    dest.mkdir(parents=True)
    before = snapshot(tmp_path, dest)
    proc = diskkit("fat", "get", "-r", hostile.path, "/", dest, timeout=60, check=False)
    assert_clean_outcome(proc, f"{name}: fat get -r")
    assert snapshot(tmp_path, dest) == before, f"{name}: fat get -r wrote outside {dest}"
    assert not Path("/tmp/diskkit-absolute-escape.txt").exists()
    assert_inside(dest)


def test_get_recursive_never_follows_symlinks(variants, tmp_path):
    """Pre-existing symlinks in the destination (to a dir and to a file) are never written through."""
    assert_command("fat", "get")
    image = variants["fat-clean-control"].path  # README.TXT, BIG.BIN, SUB/INNER.TXT
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"must stay\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "SUB")
    os.symlink(outside / "victim.txt", dest / "README.TXT")
    os.symlink(outside / "created-through-link.txt", dest / "BIG.BIN")
    proc = diskkit("fat", "get", "-r", image, "/", dest, timeout=60, check=False)
    assert_clean_outcome(proc, "fat get -r over symlinks")
    assert (outside / "victim.txt").read_bytes() == b"must stay\n"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_get_single_file_onto_symlink(variants, tmp_path):
    assert_command("fat", "get")
    image = variants["name-dotdot"].path
    outside = tmp_path / "victim.txt"
    outside.write_bytes(b"must stay\n")
    link = tmp_path / "out.txt"
    os.symlink(outside, link)
    proc = diskkit("fat", "get", image, "/safe.txt", link, timeout=60, check=False)
    assert_clean_outcome(proc, "fat get onto a symlink")
    assert outside.read_bytes() == b"must stay\n"


def test_api_get_refuses_hostile_names(variants, tmp_path):
    """hosttree.get on every hostile name: a DiskkitError or a file inside the destination."""
    from diskkit.blockdev import FileDevice
    from diskkit.errors import DiskkitError
    from diskkit.fat import FatFS
    from diskkit.fat.hosttree import get

    for name in [n for n in NAMES if n.startswith("name-")]:
        dest = tmp_path / name
        dest.mkdir()
        dev = FileDevice(variants[name].path)
        try:
            get(FatFS(dev), "/", str(dest), recursive=True)
        except DiskkitError:
            pass
        finally:
            dev.close()
        assert_inside(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n in NAMES if n.startswith("name-"))


# -- random damage (hypothesis): a small in-CI fuzzer over each format's metadata -------------

def metadata_ranges(name: str, size: int) -> list[tuple[int, int]]:
    """Where each control image keeps its structures (what random damage should hit)."""
    if name.startswith("gpt"):
        return [(0, 34 * 512), (size - 33 * 512, size)]
    if name.startswith("mbr"):
        return [(0, 512), (512 * 512, 513 * 512), (600 * 512 - 512, 600 * 512)]
    if name.startswith("vhdx"):  # headers and region tables (random bytes mostly break their
        # CRCs), metadata table and items, BAT, the first log sectors
        kib = 1024
        return [(64 * kib, 68 * kib), (192 * kib, 196 * kib), (3 * kib * kib, 3 * kib * kib + 66 * kib),
                (2 * kib * kib, 2 * kib * kib + 4 * kib), (kib * kib, kib * kib + 8 * kib)]
    if name.startswith("vhd"):
        return [(0, 2048), (size - 512, size)]
    if name.startswith("ntfs"):  # boot sector, the first MFT records, Sub's index block
        layout = fuzz_targets.ntfs_layout(fuzz_targets.template("ntfs"))
        return [(0, 512), (layout["mft"], layout["mft"] + 40 * layout["record"]),
                (layout["index"], layout["index"] + 4096)]
    return [(0, 8192)]  # FAT12: boot sector, both FATs and the root directory


CONTROLS = ["gpt-clean-control", "mbr-clean-control", "vhd-dynamic-clean-control",
            "vhdx-dynamic-clean-control", "fat-clean-control", "ntfs-clean-control"]


@pytest.mark.parametrize("control", CONTROLS)
def test_random_metadata_damage(control):
    from hypothesis import HealthCheck, given, settings, strategies as st

    from diskkit.errors import DiskkitError

    hostile = VARIANTS[control]
    target, _ = PIPELINES[hostile.kind]
    fuzz_targets.TARGETS[target].load()
    base = Path(hostile.path).read_bytes()
    ranges = metadata_ranges(control, len(base))
    flips = st.lists(st.tuples(st.sampled_from(ranges), st.integers(0, 1 << 20),
                               st.integers(0, 255)), min_size=1, max_size=12)

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(flips)
    def check(changes):
        data = bytearray(base)
        for (lo, hi), pos, value in changes:
            data[lo + pos % (hi - lo)] = value
        with time_limit(20, control), memory_limit(2 * len(data) + (48 << 20), control):
            try:
                run_pipeline(hostile.kind, bytes(data))
            except DiskkitError as exc:
                assert "\n" not in str(exc)

    check()


def run_pipeline(kind: str, data: bytes) -> None:
    if kind == "raw":
        fuzz_targets.table_pipeline(data)
    elif kind == "vhd":
        fuzz_targets.vhd_pipeline(data)
    elif kind == "vhdx":
        fuzz_targets.vhdx_pipeline_on(fuzz_targets.scratch_file(data, ".vhdx"))
    elif kind == "ntfs":
        fuzz_targets.ntfs_pipeline_on(fuzz_targets.PatchedDevice(data, 0, b""))
    else:
        fuzz_targets.fat_pipeline_on(fuzz_targets.PatchedDevice(data, 0, b""))


# -- writing into damaged images: refuse or succeed, never crash or hang ---------------------

EDITS = {
    "raw": [("part", "add", "{img}", "--type", "linux", "--size", "64K"),
            ("part", "add", "{img}", "--type", "linux", "--size", "4K", "--logical")],
    "vhd": [("part", "add", "{img}", "--type", "linux", "--size", "16K"),
            ("fat", "put", "{img}", "{src}", "/new.txt")],
    "vhdx": [("part", "add", "{img}", "--type", "linux", "--size", "16K"),
             ("resize", "{img}", "--size", "+1M")],
    "fat": [("fat", "put", "{img}", "{src}", "/SUB/new.txt"), ("fat", "mkdir", "{img}", "/newdir"),
            ("fat", "rm", "-r", "{img}", "/SUB"), ("fat", "mv", "{img}", "/BIG.BIN", "/SUB/B.BIN")],
    "ntfs": [],  # NTFS is read-only
}


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("fat32")])
def test_edit_commands_on_damaged_images(variants, name, tmp_path):
    hostile = variants[name]
    src = tmp_path / "src.txt"
    src.write_bytes(b"new file\n")
    for i, command in enumerate(EDITS[hostile.kind]):
        assert_command(*command)
        copy = tmp_path / f"copy{i}{Path(hostile.path).suffix}"
        shutil.copyfile(hostile.path, copy)
        argv = [{"{img}": str(copy), "{src}": str(src)}.get(w, w) for w in command]
        assert_clean_outcome(diskkit_inprocess(*argv), f"{name}: diskkit {' '.join(command)}")
