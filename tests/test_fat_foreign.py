"""FAT volumes other tools made: diskkit sees what fatlabel, blkid, mtools and fsck.fat see.

For each image the independent tools run here, in the test: the FAT type, label and serial
(blkid -p, fatlabel), every file and its bytes (mtools), and the check verdict (fsck.fat -n)
must equal diskkit's. Images come from mkfs.fat over its options, from mformat, from mcopy
with cp850 names, and from hand-made damage.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from support import ENV, diskkit, need_tool, run
from support.fat import fat_tree, mtools_tree, new_image, open_volume

from diskkit.errors import DiskkitError
from diskkit.fat import FatFS, check
from diskkit.fat import names

UTF8 = dict(ENV, LC_ALL="C.UTF-8")  # so fatlabel and mtools print cp850 names as UTF-8
MiB = 1 << 20

# fsck.fat 4.2 (Debian 12) findings that are no damage, each with why diskkit stays quiet:
# - Windows writes the label only into the root directory and leaves the boot sector's copy
#   ("NO NAME" or stale): fsck.fat 4.2 "fixes" that, fatlabel and blkid read it as Windows does.
# - fsck.fat 4.2 reads the NT byte's EFS-encryption bit (0x01) as "no 8.3 name" and renames such
#   files; later dosfstools stopped doing that (its check-encryption_* tests).
# - what fsck.fat itself reports but exits 0 for ("mostly harmless", uninitialised FSInfo).
_LABEL_QUIRK = re.compile(r"label", re.I)
_HARMLESS = ("Free cluster summary uninitialized", "mostly harmless", "no space for creating one",
             "Filesystem is FAT32 according to fat_length")


def _blocks(output: str) -> list[list[str]]:
    """fsck.fat's findings: each top-level line with the indented lines under it."""
    blocks: list[list[str]] = []
    for line in output.splitlines():
        if not line.strip() or line.startswith(("fsck.fat ", "Leaving filesystem unchanged")) \
                or re.search(r": \d+ files, \d+/\d+ clusters$", line):
            continue
        if line.startswith((" ", "\t")) and blocks:
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return blocks


def fsck_says_broken(image: str, fs: FatFS | None) -> bool | None:
    """fsck.fat -n's verdict with its known misreadings taken out; None when it cannot judge."""
    proc = run(need_tool("fsck.fat"), "-n", image, check=False)
    if "only 1 or 2 FATs are supported" in proc.stdout + proc.stderr:
        return None  # fsck.fat 4.2 cannot check a volume with 3 FATs at all
    if proc.returncode == 0:
        return False

    def quirk(block: list[str]) -> bool:
        text = " ".join(block)
        if _LABEL_QUIRK.search(block[0]) or any(h in text for h in _HARMLESS):
            return True
        if "Bad short file name" in text and fs is not None and block[0].startswith("/"):
            try:
                return bool(fs.stat(block[0].strip()).nt_flags & 0x01)  # EFS, not "no 8.3"
            except Exception:
                return False
        return False

    return not all(quirk(b) for b in _blocks(proc.stdout + proc.stderr))


def blkid_view(image: str) -> dict:
    """``blkid -p -o udev`` as a dict, labels decoded from their raw bytes in cp850."""
    proc = run(need_tool("blkid"), "-p", "-o", "udev", image, check=False)
    out = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    for key in ("ID_FS_LABEL", "ID_FS_LABEL_FATBOOT"):
        enc = out.get(key + "_ENC")
        if enc is not None:
            raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), enc.encode())
            out[key] = raw.decode("cp850")
    return out


_FATLABEL_WARNINGS = ("There is no backup boot sector", "And there is no space", "Warning: ",
                      "  but has only", "  This may lead")


def fatlabel_view(image: str) -> str | None:
    """The label fatlabel prints (None when it fails, as on a truncated volume)."""
    proc = subprocess.run([need_tool("fatlabel"), image], capture_output=True, env=UTF8)
    if proc.returncode:
        return None
    lines = [line for line in proc.stdout.decode("utf-8").splitlines()  # its warnings go there too
             if not line.startswith(_FATLABEL_WARNINGS)]
    return lines[-1].rstrip(" ") or None if lines else None


def small_fat32(image: str) -> bool:
    """FAT32 with fewer than 65,525 clusters: legal (Linux and fsck.fat take the type from the
    layout), but mtools and libfsfat take it from the cluster count and misread the FAT."""
    layout = FatFS(open_volume(image, writable=False)).layout
    return layout.fat32 and layout.cluster_count < 65525


def fsck_paths(image: str) -> set[str]:
    """Every path ``fsck.fat -n -l`` walks, case-folded (it shows short names in capitals)."""
    proc = subprocess.run([need_tool("fsck.fat"), "-n", "-l", image], capture_output=True, env=UTF8)
    found = re.findall(r"^Checking file (/.*?)(?: \([^)]*\))?$", proc.stdout.decode(), re.M)
    return {p.casefold() for p in found if p != "/"}


def assert_same_files(fs: FatFS, image: str) -> dict:
    """diskkit's files equal mtools' (names and bytes); on a small FAT32 the names equal the
    ones fsck.fat walks (the bytes are then checked against their host files by the test)."""
    ours = fat_tree(fs)
    if small_fat32(image):
        walked = fsck_paths(image)
        if fs.root().label is not None:  # fsck.fat walks the label entry as if a file
            walked.discard("/" + fs.root().label.short_name.casefold())
        assert {"/" + p.casefold() for p in ours} == walked, image
    else:
        assert ours == mtools_tree(image), image
    return ours


def assert_agrees(image: str, fsck_judges: bool = True, expect_files: bool = True) -> FatFS:
    """diskkit's type, label, serial, files and check verdict equal the tools' on ``image``."""
    fs = FatFS(open_volume(image, writable=False))
    blk = blkid_view(image)
    assert blk.get("ID_FS_TYPE") == "vfat", blk
    assert f"FAT{fs.layout.fat_type}" == blk["ID_FS_VERSION"], (image, blk)
    assert fs.usage()["volume_id"] == blk.get("ID_FS_UUID"), (image, blk)
    assert fs.label == blk.get("ID_FS_LABEL"), (image, fs.label, blk)
    assert fs.boot_label == blk.get("ID_FS_LABEL_FATBOOT"), (image, fs.boot_label, blk)
    if not fs.truncated:
        assert fs.label == fatlabel_view(image), image
    ours = assert_same_files(fs, image)
    assert ours or not expect_files, f"{image}: no files to compare"
    verdict = fsck_says_broken(image, fs)
    if fsck_judges and verdict is not None:
        report = check(open_volume(image, writable=False))
        assert report.clean == (not verdict), (image, report.to_text())
    return fs


def _fill_with_mtools(image: str, tmp_path) -> None:
    """A few files mtools puts in: a long name, a cp850 name, a subdirectory, a multi-cluster
    file (diskkit puts them into a small FAT32, which mtools cannot write)."""
    host = tmp_path / "host"
    host.mkdir(exist_ok=True)
    (host / "small.txt").write_bytes(b"small\n")
    (host / "big.bin").write_bytes(os.urandom(70_000))
    if small_fat32(image):
        diskkit("fat", "mkdir", image, "/Sub Dir")
        diskkit("fat", "put", image, host / "small.txt", "/A Long File Name.txt")
        diskkit("fat", "put", image, host / "small.txt", "/naïve-long name.txt")
        diskkit("fat", "put", image, host / "big.bin", "/Sub Dir/big.bin")
        return
    for cmd in (["mmd", "-i", image, "::/Sub Dir"],
                ["mcopy", "-i", image, host / "small.txt", "::/A Long File Name.txt"],
                ["mcopy", "-i", image, host / "small.txt", "::/naïve-long name.txt"],
                ["mcopy", "-i", image, host / "big.bin", "::/Sub Dir/big.bin"]):
        subprocess.run([str(c) for c in cmd], env=UTF8, check=True, capture_output=True)


# mkfs.fat over its options: every -F, -S 512..4096, -s 1..128, -f 1..3, -R, -a, --mbr
MKFS_CASES = [
    ("F12-S512-s1", 2, ["-F", "12", "-S", "512", "-s", "1"]),
    ("F12-S1024-s2-f1", 2, ["-F", "12", "-S", "1024", "-s", "2", "-f", "1"]),
    ("F12-S2048-s4-R8-a", 4, ["-F", "12", "-S", "2048", "-s", "4", "-R", "8", "-a"]),
    ("F12-S4096-s1-f3", 8, ["-F", "12", "-S", "4096", "-s", "1", "-f", "3"]),
    ("F12-mbr", 2, ["-F", "12", "--mbr=y", "-n", "MBRLABEL"]),
    ("F16-S512-s4", 32, ["-F", "16", "-S", "512", "-s", "4", "-n", "SIXTEEN"]),
    ("F16-S1024-s8", 64, ["-F", "16", "-S", "1024", "-s", "8"]),
    ("F16-S2048-s16-f3", 300, ["-F", "16", "-S", "2048", "-s", "16", "-f", "3"]),
    ("F16-S4096-s1-R16-a", 48, ["-F", "16", "-S", "4096", "-s", "1", "-R", "16", "-a"]),
    ("F16-s32-f1", 300, ["-F", "16", "-s", "32", "-f", "1"]),
    ("F16-s64", 600, ["-F", "16", "-s", "64", "--mbr=y"]),
    ("F32-S512-s1", 40, ["-F", "32", "-S", "512", "-s", "1", "-n", "THIRTYTWO"]),
    ("F32-S1024-s2-a", 300, ["-F", "32", "-S", "1024", "-s", "2", "-a"]),
    ("F32-S2048-s1-f1", 200, ["-F", "32", "-S", "2048", "-s", "1", "-f", "1"]),
    ("F32-S4096-s1-R64", 300, ["-F", "32", "-S", "4096", "-s", "1", "-R", "64"]),
    ("F32-s8-small", 36, ["-F", "32", "-s", "8"]),  # FAT32 with < 65,525 clusters: legal
    ("F32-s128", 80, ["-F", "32", "-s", "128", "-f", "1"]),
    ("F32-S4096-s128", 300, ["-F", "32", "-S", "4096", "-s", "128"]),  # 512 KiB clusters
    ("F32-R2-no-backup", 40, ["-F", "32", "-R", "2", "-b", "0"]),
    ("F32-mbr", 40, ["-F", "32", "--mbr=y", "-i", "DEADBEEF"]),
]


@pytest.mark.parametrize("mib, options", [c[1:] for c in MKFS_CASES], ids=[c[0] for c in MKFS_CASES])
def test_mkfs_fat_images_read_as_the_tools_read_them(tmp_path, mib, options):
    image = new_image(tmp_path / "v.img", mib * MiB)
    proc = run(need_tool("mkfs.fat"), *options, image, check=False)
    assert proc.returncode == 0, proc.stderr
    _fill_with_mtools(image, tmp_path)
    fs = assert_agrees(image)
    assert fs.read_file("/Sub Dir/big.bin") == (tmp_path / "host" / "big.bin").read_bytes()
    # and diskkit writes into it what the tools then read back, leaving it as clean as fsck says
    (tmp_path / "mine.bin").write_bytes(os.urandom(50_000))
    diskkit("fat", "mkdir", image, "/Sub Dir/made by diskkit")
    diskkit("fat", "put", image, tmp_path / "mine.bin", "/Sub Dir/made by diskkit/Über.bin")
    fs = assert_agrees(image)
    assert fs.read_file("/Sub Dir/made by diskkit/Über.bin") == (tmp_path / "mine.bin").read_bytes()


MFORMAT_CASES = [
    ("floppy-1440", 1440 * 1024, ["-f", "1440", "-v", "FLOPPY", "-N", "12345678"]),
    ("fat16-hd", 64 * MiB, ["-T", "131072", "-h", "64", "-s", "32", "-v", "HARDDISK"]),
    ("fat32", 100 * MiB, ["-F", "-T", "204800", "-h", "64", "-s", "32", "-v", "BIG32"]),
]


@pytest.mark.parametrize("size, options", [c[1:] for c in MFORMAT_CASES], ids=[c[0] for c in MFORMAT_CASES])
def test_mformat_images_read_as_the_tools_read_them(tmp_path, size, options):
    image = new_image(tmp_path / "v.img", size)
    subprocess.run([need_tool("mformat"), "-i", image, *options, "::"], env=UTF8, check=True)
    _fill_with_mtools(image, tmp_path)
    assert_agrees(image)
    assert diskkit("info", image).stdout.count("fat") >= 1  # a whole-disk FAT, not a table


def test_cp850_short_names_and_labels(tmp_path):
    """mtools and mkfs.fat write short names and labels in cp850: shown and found as such."""
    image = new_image(tmp_path / "cp.img", 16 * MiB)
    run(need_tool("mkfs.fat"), "-F", "16", image)
    subprocess.run([need_tool("mlabel"), "-i", image, "::ÕÕÕ"], env=UTF8, check=True)
    _fill_with_mtools(image, tmp_path)
    subprocess.run(["mcopy", "-i", image, tmp_path / "host" / "small.txt", "::/Ü.TXT"],
                   env=UTF8, check=True)
    fs = assert_agrees(image)
    assert fs.label == "ÕÕÕ"  # stored with 0x05 for its leading 0xE5
    listing = subprocess.run(["mdir", "-a", "-i", image, "::"], env=UTF8, capture_output=True,
                             check=True).stdout.decode()
    assert "NAÏVE-~1 TXT" in listing
    assert fs.stat("/naïve-long name.txt").short_name == "NAÏVE-~1.TXT"
    assert diskkit("fat", "cat", image, "/NAÏVE-~1.TXT").stdout == "small\n"
    assert diskkit("fat", "cat", image, "/ü.txt").stdout == "small\n"
    # read in another code page the same bytes are other characters
    other = diskkit("fat", "ls", "-l", "--codepage", "437", image).stdout
    assert "NA╪VE-~1.TXT" in other
    assert diskkit("fat", "ls", "--codepage", "nonsense", image, check=False).returncode == 2


def test_short_names_diskkit_makes_in_cp850_match_mtools(tmp_path):
    image = new_image(tmp_path / "cp.img", 16 * MiB)
    run(need_tool("mkfs.fat"), "-F", "16", image)
    host = tmp_path / "naïve-long name.txt"
    host.write_bytes(b"x")
    diskkit("fat", "put", image, host, "/")
    listing = subprocess.run(["mdir", "-a", "-i", image, "::"], env=UTF8, capture_output=True,
                             check=True).stdout.decode()
    assert "NAÏVE-~1 TXT" in listing and "naïve-long name.txt" in listing
    assert_agrees(image)


def test_label_rules_follow_fatlabel_and_blkid(tmp_path):
    """Root-directory label wins; a boot-sector-only label is shown as such; NO NAME is none."""
    image = new_image(tmp_path / "l.img", 40 * MiB)
    run(need_tool("mkfs.fat"), "-F", "32", "-n", "FIRST", image)
    fs = assert_agrees(image, expect_files=False)
    assert (fs.label, fs.boot_label) == ("FIRST", "FIRST")
    run(need_tool("mlabel"), "-i", image, "::SECOND")
    fs = assert_agrees(image, expect_files=False)
    assert fs.label == "SECOND"
    # what Windows leaves when it erases a label: the root entry deleted, the boot copy stale
    entry = fs.root().label
    with open(image, "r+b") as fh:
        fh.seek(fs.root().slot_offset(entry.slot))
        fh.write(b"\xe5")
    fs = assert_agrees(image, expect_files=False)
    assert fs.label is None and fs.boot_label == "SECOND"
    info = diskkit("fat", "info", "--json", image).stdout
    assert '"label": null' in info and '"boot_label": "SECOND"' in info
    run(need_tool("mkfs.fat"), "-F", "32", image)  # no label at all: boot sector says NO NAME
    fs = assert_agrees(image, expect_files=False)
    assert (fs.label, fs.boot_label) == (None, None)


def test_truncated_volume_is_readable_read_only(tmp_path):
    image = new_image(tmp_path / "t.img", 16 * MiB)
    run(need_tool("mkfs.fat"), "-F", "16", image)
    host = tmp_path / "host"
    host.mkdir()
    (host / "early.bin").write_bytes(os.urandom(100_000))
    (host / "late.bin").write_bytes(os.urandom(9_000_000))
    for name in ("early.bin", "late.bin"):
        run("mcopy", "-i", image, host / name, f"::/{name}")
    os.truncate(image, 8 * MiB)
    listing = run("mdir", "-b", "-i", image, "::/").stdout  # mdir lists it
    assert "EARLY.BIN" in listing.upper() and "LATE.BIN" in listing.upper()
    fs = FatFS(open_volume(image, writable=False))
    assert fs.truncated and fs.warnings
    assert {e.name for e in fs.listdir("/")} == {"early.bin", "late.bin"}
    assert fs.read_file("/early.bin") == (host / "early.bin").read_bytes()
    proc = diskkit("fat", "ls", image, check=False)
    assert proc.returncode == 0 and "truncated" in proc.stderr and "late.bin" in proc.stdout
    proc = diskkit("fat", "cat", image, "/late.bin", check=False)
    assert proc.returncode == 2 and "beyond the end" in proc.stderr, proc.stderr
    proc = diskkit("fat", "put", image, host / "early.bin", "/again.bin", check=False)
    assert proc.returncode == 2 and "read-only" in proc.stderr
    assert diskkit("fat", "check", image, check=False).returncode == 1
    assert fsck_says_broken(image, fs) is True
    blk = blkid_view(image)
    assert (f"FAT{fs.layout.fat_type}", fs.usage()["volume_id"]) == (
        blk["ID_FS_VERSION"], blk["ID_FS_UUID"])


def _poke(image: str, offset: int, data: bytes) -> None:
    with open(image, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def _damage(kind: str, image: str) -> None:
    layout = FatFS(open_volume(image, writable=False)).layout
    width = layout.fat_type // 8 if layout.fat_type != 12 else 2
    if kind == "boot-dirty":
        _poke(image, layout.state_offset, b"\x01")
    elif kind == "fat1-not-clean":  # DOS/Windows: FAT[1]'s clean-shutdown bit cleared
        bit_byte = {16: 1, 32: 3}[layout.fat_type]
        for copy in range(layout.num_fats):
            off = layout.fat_offset(copy) + width + bit_byte
            with open(image, "rb") as fh:
                fh.seek(off)
                value = fh.read(1)[0]
            _poke(image, off, bytes([value & ~(0x80 if layout.fat_type == 16 else 0x08)]))
    elif kind == "fat0-invalid-in-every-copy":
        for copy in range(layout.num_fats):
            _poke(image, layout.fat_offset(copy), bytes(width))
    elif kind == "fat0-invalid-in-one-copy":
        _poke(image, layout.fat_offset(0), bytes(width))
    elif kind == "fat0-other-media":  # fsck.fat is quiet: so is diskkit
        for copy in range(layout.num_fats):
            _poke(image, layout.fat_offset(copy), b"\xf0")
    elif kind == "sectors-per-cluster-3":
        _poke(image, 13, b"\x03")
    elif kind == "no-backup-boot-sector":
        _poke(image, 50, b"\x00\x00")
    elif kind == "backup-boot-sector-zeroed":  # fsck.fat: "mostly harmless"
        _poke(image, 6 * layout.sector_size, bytes(layout.sector_size))
    elif kind == "duplicate-short-names":
        fs = FatFS(open_volume(image, writable=False))
        a = fs.stat("/A Long File Name.txt")
        b = fs.stat("/naïve-long name.txt")
        _poke(image, fs.root().slot_offset(b.slot), a.raw11)
    elif kind == "media-byte-0x12":
        _poke(image, 21, b"\x12")
    else:
        raise AssertionError(kind)


DAMAGE = {  # kind: (FAT type, fsck.fat -n calls it broken)
    "boot-dirty": (16, True), "fat1-not-clean": (32, True),
    "fat0-invalid-in-every-copy": (16, True), "fat0-invalid-in-one-copy": (32, True),
    "fat0-other-media": (16, False), "sectors-per-cluster-3": (16, True),
    "no-backup-boot-sector": (32, True), "backup-boot-sector-zeroed": (32, False),
    "duplicate-short-names": (16, True), "media-byte-0x12": (12, False),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_hand_made_damage_judged_as_fsck_judges_it(tmp_path, kind):
    fat_type, broken = DAMAGE[kind]
    image = new_image(tmp_path / "d.img", {12: 2, 16: 32, 32: 40}[fat_type] * MiB)
    run(need_tool("mkfs.fat"), "-F", str(fat_type), image)
    _fill_with_mtools(image, tmp_path)
    _damage(kind, image)
    assert fsck_says_broken(image, None) is broken  # the oracle agrees with the table above
    report = check(open_volume(image, writable=False))
    assert report.clean == (not broken), report.to_text()
    proc = diskkit("fat", "check", image, check=False)
    assert proc.returncode == (1 if broken else 0), proc.stdout
    if broken and kind not in ("sectors-per-cluster-3", "duplicate-short-names"):
        repaired = tmp_path / "r.img"
        shutil.copy(image, repaired)
        proc = diskkit("fat", "repair", repaired, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert fsck_says_broken(str(repaired), None) is False
        assert fat_tree(FatFS(open_volume(str(repaired), writable=False))) == mtools_tree(image)


def test_codepage_names_round_trip():
    """Every cp850 letter a short name may hold survives generation and decoding."""
    for ch in "ÄÖÜÉÈÀÇÑÕÏ":
        raw = names.generate_short_name(f"{ch.lower()}x long name.txt", set(), "cp850")
        assert names.short_display(raw, "cp850").startswith(ch)


# -- the corpus: FAT images from dosfstools' and util-linux's test suites, a FreeDOS floppy ----

CORPUS_FAT = ("dosfstools/", "ul-fs/fat", "ul-fs/small-fat32.img", "misc-foreign/rdisk-FDSTD.720.img")


def mdir_paths(image: str) -> set[str]:
    """Every path ``mdir -/ -b -a`` lists (mtools' listing; it reads a truncated volume too)."""
    proc = subprocess.run([need_tool("mdir"), "-/", "-b", "-a", "-i", image, "::/"], env=UTF8,
                          capture_output=True)
    return {line.removeprefix("::").rstrip("/").casefold()
            for line in proc.stdout.decode("utf-8", "replace").splitlines() if line.startswith("::/")}


def corpus_agrees(corpus, name: str) -> None:
    image = str(corpus.path(name))
    try:
        fs = FatFS(open_volume(image, writable=False))
    except DiskkitError:  # refused: the tools must call it broken too
        assert not check(open_volume(image, writable=False)).clean
        assert fsck_says_broken(image, None) is True, f"diskkit refuses {name}, fsck.fat does not"
        return
    blk = blkid_view(image)
    assert (f"FAT{fs.layout.fat_type}", fs.usage()["volume_id"], fs.label, fs.boot_label) == (
        blk["ID_FS_VERSION"], blk.get("ID_FS_UUID"), blk.get("ID_FS_LABEL"),
        blk.get("ID_FS_LABEL_FATBOOT")), blk
    if fs.truncated:  # read-only, in part: the names mtools lists
        ours = {fs.join(d, e.name).casefold() for d, entries in fs.walk("/") for e in entries}
        assert ours == mdir_paths(image)
        assert not check(open_volume(image, writable=False)).clean
        return
    report = check(open_volume(image, writable=False))
    if fsck_says_broken(image, fs):  # damaged: the verdict must agree; its files may not read
        assert not report.clean, f"fsck.fat calls it broken, diskkit clean: {report.to_text()}"
        return
    if not report.clean and all(_efs_entry(fs, p.where) for p in report.errors):
        # fsck.fat 4.2 checks no short name of an EFS-encrypted entry (it reads that NT bit as
        # "no 8.3 name"); dosfstools' own test calls this image broken, and so does diskkit
        assert "broken" in " ".join(corpus.expectations(name)), report.to_text()
        return
    assert_agrees(image, expect_files=False)
    label_file = corpus.root / name.replace(".img", ".label")
    if label_file.exists():  # dosfstools' own expectation for its label series
        assert (fs.label or "") == label_file.read_text().rstrip("\n"), name


def _efs_entry(fs: FatFS, where: str) -> bool:
    """Whether a problem's place (``fat /path``) is an entry with the NT byte's EFS bit."""
    try:
        return bool(fs.stat(where.removeprefix("fat ")).nt_flags & 0x01)
    except DiskkitError:
        return False


def test_corpus_fat_images_as_the_tools_see_them(corpus):
    names_ = [n for n in corpus.names(suffix=".img") if n.startswith(CORPUS_FAT)]
    assert len(names_) > 80, names_
    failures = []
    for name in names_:
        try:
            corpus_agrees(corpus, name)
        except AssertionError as exc:
            failures.append(f"{name}: {str(exc)[:600]}")
    assert not failures, f"{len(failures)} of {len(names_)} images disagree:\n" + "\n".join(failures)
