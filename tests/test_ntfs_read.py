"""The NTFS reader against ntfs-3g (ntfsls, ntfscat, ntfsinfo) and libfsntfs, on volumes
made by mkntfs, wimapply and the ntfs-3g FUSE driver."""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import subprocess
import sys

import pytest

from diskkit.blockdev import FileDevice
from diskkit.errors import CorruptImage, NotFound, UsageError
from diskkit.ntfs import NtfsVolume
from benchmarks.ntfscraft import set_attributes
from support import ENV, diskkit, need_tool, run
from support.ntfs import (apply_tree, diskkit_tree, libfsntfs_tree, make_tree, make_wof_file,
                          mkntfs, mounted)

MiB = 1 << 20


def open_volume(path: str) -> NtfsVolume:
    return NtfsVolume(FileDevice(path))


def ntfscat(image: str, path: str) -> bytes:
    """File bytes as ntfs-3g's ntfscat reads them (binary stdout)."""
    need_tool("ntfscat")
    proc = subprocess.run(["ntfscat", image, path], capture_output=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def tree_image(tmp_path_factory):
    """A 64 MiB volume (4 KiB clusters) holding a 300-file tree, written by wimapply."""
    tmp = tmp_path_factory.mktemp("ntfs-tree")
    src = tmp / "src"
    tree = make_tree(str(src), seed=1, files=300, big_dir=1500)
    image = mkntfs(str(tmp / "tree.img"), 64 * MiB, label="Windows")
    apply_tree(image, str(src))
    return image, tree


def _ntfsls_tree(image: str) -> dict[str, int]:
    """``{path: size}`` from ``ntfsls -R -l`` (directories have size 0)."""
    out = run("ntfsls", "-R", "-l", image).stdout
    listing, current = {}, None
    line_re = re.compile(r"^\s*(\d+) \w{3} [ \d]\d \d\d:\d\d \d{4} (.*)$")
    for line in out.splitlines():
        if line.endswith(":") and line.startswith("/"):
            current = line[:-1].rstrip("/")
            continue
        m = line_re.match(line)
        if m and m.group(2) not in (".", ".."):
            listing[f"{current}/{m.group(2)}"] = int(m.group(1))
    return listing


def test_tree_equals_written_tree_and_libfsntfs(tree_image):
    image, tree = tree_image
    vol = open_volume(image)
    ours = diskkit_tree(vol)
    assert set(ours) == set(tree)
    for path, data in tree.items():
        is_dir, size, _, digest = ours[path]
        assert is_dir == (data is None), path
        if data is not None:
            assert size == len(data) and digest == hashlib.sha256(data).hexdigest(), path
    theirs = libfsntfs_tree(image)
    assert {p: v[:2] + v[3:] for p, v in ours.items()} == \
        {p: v[:2] + v[3:] for p, v in theirs.items()}
    for path in ours:  # times to the 100 ns tick
        assert ours[path][2] == pytest.approx(theirs[path][2], abs=1e-6), path


def test_listing_equals_ntfsls(tree_image):
    image, _ = tree_image
    vol = open_volume(image)
    ours = {}
    for dpath, dirs, files in vol.walk("/"):
        for e in dirs + files:
            ours[f"{dpath.rstrip('/')}/{e.name}"] = e.size
    theirs = {p: s for p, s in _ntfsls_tree(image).items()
              if not p.split("/")[1].startswith("$")}
    assert ours == theirs


def test_listing_order_is_ntfs_collation(tree_image):
    """listdir returns the index's order: upper-cased UTF-16 code units, as ntfsls prints."""
    image, _ = tree_image
    vol = open_volume(image)
    names = [e.name for e in vol.listdir("/")]
    keys = [vol.upcase.key(n) for n in names]
    assert keys == sorted(keys)
    assert len(vol.listdir("/big")) == 1500


def test_upcase_is_read_on_first_lookup(tree_image):
    """Listing from the root needs no case folding: $UpCase is read when a path is first
    looked up (case-insensitively, as the index orders names)."""
    image, _ = tree_image
    vol = open_volume(image)
    assert len(vol.listdir("/")) > 1 and vol._upcase is None
    assert vol.stat("/BIG").is_dir and vol._upcase is not None


def test_bytes_equal_ntfscat(tree_image):
    image, tree = tree_image
    vol = open_volume(image)
    files = sorted(p for p, d in tree.items() if d is not None)
    for path in files[::25]:
        assert vol.read_file(path) == tree[path] == ntfscat(image, path)


def test_info_equals_ntfsinfo(tree_image):
    image, _ = tree_image
    info = open_volume(image).info()
    out = run("ntfsinfo", "-m", image).stdout
    field = lambda name: re.search(rf"{name}:\s*(\S+)", out).group(1)  # noqa: E731
    assert info["cluster_size"] == int(field("Cluster Size"))
    assert info["clusters"] == int(field("Volume Size in Clusters"))
    assert info["free_clusters"] == int(field("Free Clusters"))
    assert info["mft_record_size"] == int(field("MFT Record Size"))
    assert info["version"] == field("Volume Version")
    assert info["label"] == "Windows"
    assert info["dirty"] is False
    assert info["used_clusters"] + info["free_clusters"] == info["clusters"]


def test_lookup_is_case_insensitive(tree_image):
    image, tree = tree_image
    vol = open_volume(image)
    deep = max((p for p, d in tree.items() if d is not None), key=lambda p: p.count("/"))
    assert vol.read_file(deep.upper()) == tree[deep]
    assert vol.stat("/ÜNÏCÖDÉ NAÏVE.TXT").name == "Ünïcödé naïve.txt"
    assert vol.exists("\\DIR0") and not vol.exists("/dir0/nothing")
    with pytest.raises(NotFound):
        vol.stat("/no/such/path")
    with pytest.raises(UsageError):
        vol.read_file("/dir0")


@pytest.mark.parametrize("cluster", [512, 1024, 2048, 8192, 16384, 32768, 65536])
def test_cluster_sizes(tmp_path, cluster):
    src = tmp_path / "src"
    tree = make_tree(str(src), seed=cluster, files=40, depth=3, max_size=200_000)
    image = mkntfs(str(tmp_path / "v.img"), 48 * MiB, cluster=cluster)
    apply_tree(image, str(src))
    vol = open_volume(image)
    ours = diskkit_tree(vol)
    assert {p: v[:2] + v[3:] for p, v in ours.items()} == \
        {p: (d is None, 0 if d is None else len(d),
             None if d is None else hashlib.sha256(d).hexdigest()) for p, d in tree.items()}
    out = run("ntfsinfo", "-m", image).stdout
    assert vol.info()["free_clusters"] == int(re.search(r"Free Clusters:\s*(\d+)", out).group(1))


# -- features only a live ntfs-3g mount makes -------------------------------------------------
@pytest.fixture(scope="module")
def fuse_image(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ntfs-fuse")
    image = mkntfs(str(tmp / "fuse.img"), 64 * MiB)
    expect: dict[str, bytes] = {}
    rng = __import__("random").Random(5)
    with mounted(image) as mnt:
        os.mkdir(f"{mnt}/comp")
        set_attributes(f"{mnt}/comp", 0x800)
        text = b"".join(b"line %d of a compressible file\n" % i for i in range(40000))
        mixed = text[:100000] + rng.randbytes(150000) + bytes(200000) + text[:77777]
        for name, data in (("text.txt", text), ("mixed.bin", mixed), ("tiny", b"abc"),
                           ("empty", b"")):
            with open(f"{mnt}/comp/{name}", "wb") as fh:
                fh.write(data)
            expect[f"/comp/{name}"] = data
        with open(f"{mnt}/comp/sparse-compressed", "wb") as fh:
            fh.seek(3 * MiB)
            fh.write(b"tail")
        expect["/comp/sparse-compressed"] = bytes(3 * MiB) + b"tail"
        holes = bytearray()
        with open(f"{mnt}/holes", "wb") as fh:
            for i in range(5):
                piece = b"data %d " % i * 100
                fh.seek(i * MiB)
                fh.write(piece)
                holes[len(holes):] = bytes(i * MiB - len(holes)) + piece
        expect["/holes"] = bytes(holes)
        with open(f"{mnt}/ads.txt", "wb") as fh:
            fh.write(b"main stream")
        with open(f"{mnt}/ads.txt:Zone.Identifier", "wb") as fh:
            fh.write(b"[ZoneTransfer]\r\nZoneId=3\r\n")
        expect["/ads.txt"] = b"main stream"
        with open(f"{mnt}/linked", "wb") as fh:
            fh.write(b"one file, two names")
        os.link(f"{mnt}/linked", f"{mnt}/second name")
        expect["/linked"] = expect["/second name"] = b"one file, two names"
        with open(f"{mnt}/Long File Name.txt", "wb") as fh:
            fh.write(b"has a DOS alias")
        os.setxattr(f"{mnt}/Long File Name.txt", "system.ntfs_dos_name", b"LONGFI~1.TXT")
        expect["/Long File Name.txt"] = b"has a DOS alias"
        for name in ("case", "CASE"):  # POSIX names that differ only in case
            with open(f"{mnt}/{name}", "wb") as fh:
                fh.write(name.encode())
            expect[f"/{name}"] = name.encode()
        # fragments (small files written in between) and 600 holes: a run list too long for
        # one record, so the file gets an attribute list and extension records
        os.mkdir(f"{mnt}/filler")
        frag = bytearray()
        with open(f"{mnt}/fragmented", "wb") as big:
            for i in range(60):
                piece = rng.randbytes(4096)
                big.write(piece)
                big.flush()
                os.fsync(big.fileno())
                frag += piece
                with open(f"{mnt}/filler/{i}", "wb") as fh:
                    fh.write(rng.randbytes(4096))
                    fh.flush()
                    os.fsync(fh.fileno())
            for i in range(600):
                piece = rng.randbytes(4096)
                big.seek(len(frag) + 4096)
                big.write(piece)
                frag += bytes(4096) + piece
        expect["/fragmented"] = bytes(frag)
        os.mkdir(f"{mnt}/wof")
        for algorithm in ("XPRESS4K", "XPRESS8K", "XPRESS16K", "LZX"):
            data = mixed[:180000] + text[:50000]
            make_wof_file(f"{mnt}/wof/{algorithm}.dll", data, algorithm)
            expect[f"/wof/{algorithm}.dll"] = data
    return image, expect


def test_fuse_files_read_back(fuse_image):
    image, expect = fuse_image
    vol = open_volume(image)
    for path, data in expect.items():
        assert vol.read_file(path) == data, path
        assert vol.stat(path).size == len(data), path


def test_compressed_files_equal_ntfscat(fuse_image):
    image, expect = fuse_image
    vol = open_volume(image)
    for name in ("text.txt", "mixed.bin", "sparse-compressed"):
        path = f"/comp/{name}"
        entry = vol.stat(path)
        assert entry.compressed and "compressed" in entry.attribute_names
        assert entry.allocated_size < entry.size
        ours = vol.read_file(path)
        assert ours == expect[path]
        assert ours == ntfscat(image, path)


def test_streams_links_dos_names_and_case(fuse_image):
    image, _ = fuse_image
    vol = open_volume(image)
    ads = vol.stat("/ads.txt")
    assert ads.streams == ["Zone.Identifier"]
    assert vol.read_file("/ads.txt", stream="Zone.Identifier").startswith(b"[ZoneTransfer]")
    with vol.open("/ads.txt") as fh:
        assert fh.read() == b"main stream"
    a, b = vol.stat("/linked"), vol.stat("/second name")
    assert a.mft_ref == b.mft_ref and a.link_count == 2
    lfn = vol.stat("/Long File Name.txt")
    assert lfn.short_name == "LONGFI~1.TXT"
    assert vol.stat("/longfi~1.txt").name == "Long File Name.txt"
    names = [e.name for e in vol.listdir("/")]
    assert "LONGFI~1.TXT" not in names and "Long File Name.txt" in names
    assert vol.read_file("/case") == b"case" and vol.read_file("/CASE") == b"CASE"
    assert vol.read_file("/Case") in (b"case", b"CASE")


def test_attribute_list_file(fuse_image):
    image, expect = fuse_image
    vol = open_volume(image)
    entry = vol.stat("/fragmented")
    inode = vol.inode(entry.mft_ref)
    assert len({a.record for a in inode.attributes}) > 1, "expected extension records"
    assert vol.read_file("/fragmented") == expect["/fragmented"]


def test_compactos_files(fuse_image):
    image, expect = fuse_image
    vol = open_volume(image)
    theirs = libfsntfs_tree(image)
    for alg in ("XPRESS4K", "XPRESS8K", "XPRESS16K", "LZX"):
        path = f"/wof/{alg}.dll"
        entry = vol.stat(path)
        assert entry.reparse == "wof" and entry.wof == alg and entry.streams == []
        data = vol.read_file(path)
        assert data == expect[path]
        assert theirs[path][3] == hashlib.sha256(data).hexdigest()
    with vol.open("/wof/XPRESS4K.dll") as fh:
        fh.seek(5000)
        assert fh.read(10000) == expect["/wof/XPRESS4K.dll"][5000:15000]
        assert fh.tell() == 15000


def test_whole_fuse_tree_equals_libfsntfs(fuse_image):
    image, _ = fuse_image
    ours = diskkit_tree(open_volume(image))
    theirs = libfsntfs_tree(image)
    assert {p: v[:2] + v[3:] for p, v in ours.items()} == \
        {p: v[:2] + v[3:] for p, v in theirs.items()}


# -- the command line -------------------------------------------------------------------------
def test_cli_info_ls_cat_get(tree_image, tmp_path):
    image, tree = tree_image
    info = json.loads(diskkit("ntfs", "info", image, "--json").stdout)
    assert info["label"] == "Windows" and info["version"] == "3.1"
    text = diskkit("ntfs", "info", image).stdout
    assert "NTFS 3.1" in text and "clean" in text
    names = diskkit("ntfs", "ls", image, "/").stdout.splitlines()
    assert "dir0/" in names and "$MFT" not in names
    assert "$MFT" in diskkit("ntfs", "ls", "-a", image).stdout
    rows = json.loads(diskkit("ntfs", "ls", "-r", "--json", image, "/deep").stdout)
    assert any(r["path"].endswith("/bottom.txt") for r in rows)
    some = sorted(p for p, d in tree.items() if d)[3]
    cat = subprocess.run([sys.executable, "-m", "diskkit", "ntfs", "cat", image, some],
                         capture_output=True)
    assert cat.returncode == 0 and cat.stdout == tree[some]
    dest = tmp_path / "out"
    dest.mkdir()
    diskkit("ntfs", "get", "-r", image, "/dir1", "/deep", str(dest))
    for path, data in tree.items():
        if path.startswith(("/dir1", "/deep")):
            host = dest / path.lstrip("/")
            assert (host.is_dir() if data is None else host.read_bytes() == data), path


def test_tree_is_ls_r_order_read_as_it_goes(tree_image):
    """tree(): every entry walk() finds, each directory's entries by name with its contents
    right after it, and it lists a directory only when it gets there (so `ls -r` of a whole
    Windows volume holds the directories on the way down, not the volume)."""
    image, _ = tree_image
    vol = open_volume(image)
    contents = {dpath.rstrip("/"): sorted(dirs + files, key=lambda e: e.name)
                for dpath, dirs, files in vol.walk("/")}

    def expected(base):
        for e in contents[base]:
            yield f"{base}/{e.name}", e.name
            if e.is_dir:
                yield from expected(f"{base}/{e.name}")

    assert [(p, e.name) for p, e in vol.tree("/")] == list(expected(""))
    listed = []
    real_list = vol._list
    vol._list = lambda node, metafiles: listed.append(node.number) or real_list(node, metafiles)
    first_path, _ = next(iter(vol.tree("/deep")))
    assert first_path.startswith("/deep/") and len(listed) == 1


def test_ls_json_streamed_is_the_json_of_the_list(tree_image):
    """--json is written entry by entry: the same text json.dump(list, indent=2) gives."""
    image, _ = tree_image
    out = diskkit("ntfs", "ls", "-r", "--json", image, "/").stdout
    assert out == json.dumps(json.loads(out), indent=2) + "\n"
    assert diskkit("ntfs", "ls", "--json", image, "/deep/nothing", check=False).stdout == ""


def test_cli_errors_are_one_line(tree_image, tmp_path):
    image, _ = tree_image
    for args in (["ls", image, "/nope"], ["cat", image, "/dir0"], ["get", image, "/dir0", str(tmp_path)]):
        proc = diskkit("ntfs", *args, check=False)
        assert proc.returncode == 2 and proc.stderr.startswith("diskkit: error:"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    fat = tmp_path / "fat.img"
    with open(fat, "wb") as fh:
        fh.truncate(MiB)
    proc = diskkit("ntfs", "info", str(fat), check=False)
    assert proc.returncode == 2 and "no NTFS signature" in proc.stderr


def test_get_refuses_symlink_target(tree_image, tmp_path):
    image, _ = tree_image
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "readme.txt").symlink_to(victim)
    proc = diskkit("ntfs", "get", image, "/readme.txt", str(tmp_path), check=False)
    assert proc.returncode == 2 and "symbolic link" in proc.stderr
    assert victim.read_bytes() == b"keep"


def test_not_ntfs_is_corrupt(tmp_path):
    path = tmp_path / "zero.img"
    path.write_bytes(bytes(4096))
    with pytest.raises(CorruptImage):
        open_volume(str(path))


def test_without_part_the_only_data_partition_is_used(tmp_path):
    """`ntfs` commands without --part read an MBR image's one NTFS partition (mkntfs made it,
    through `ramos init`): the same answers as with --part 1, and the label mkntfs wrote."""
    need_tool("mkntfs")
    image = str(tmp_path / "n.vhd")
    diskkit("ramos", "init", image, "--size", "64M", "--chain", "ntloader")
    alone = json.loads(diskkit("ntfs", "info", image, "--json").stdout)
    assert alone == json.loads(diskkit("ntfs", "info", image, "--part", "1", "--json").stdout)
    assert alone["label"] == "Windows"
    assert diskkit("ntfs", "ls", image, "/").stdout == \
        diskkit("ntfs", "ls", image, "--part", "1", "/").stdout


# -- listings read each record's bytes directly; stat goes through the full parse --------------
def _listing_and_stat(vol: NtfsVolume) -> tuple[int, int]:
    """Every directory's listing equals ``stat`` of each of its entries (the full record
    parse); returns how many entries the listing read directly and how many it handed on."""
    direct = handed_on = 0
    for dpath, _, _ in vol.walk("/", metafiles=True):
        listed = vol.listdir(dpath, metafiles=True)
        assert listed == [vol.stat(f"{dpath.rstrip('/')}/{e.name}") for e in listed], dpath
        parent = vol.stat(dpath).mft_ref
        for e in listed:
            if vol._listed_entry(e.mft_ref, e.sequence, e.name, parent) is None:
                handed_on += 1
            else:
                direct += 1
    return direct, handed_on


def test_listing_equals_stat_plain_volume(tree_image):
    direct, handed_on = _listing_and_stat(open_volume(tree_image[0]))
    assert handed_on == 1 and direct > 1500  # only $MFT (read from the bootstrap record)


def test_listing_equals_stat_with_streams_links_lists_and_compactos(fuse_image):
    """The attribute-list file and the CompactOS files (reparse points) take the full way,
    streams, hard links, DOS names and compressed files are read directly: same entries."""
    direct, handed_on = _listing_and_stat(open_volume(fuse_image[0]))
    assert handed_on >= 1 + 1 + 4 and direct > 60


def _ntfsls_long(image: str, path: str = "/") -> dict[str, tuple[int, str]]:
    """``{path: (size, 'Mon dd HH:MM YYYY')}`` from ``ntfsls -R -l`` in UTC."""
    out = subprocess.run(["ntfsls", "-R", "-l", "-p", path, image], capture_output=True,
                         text=True, env=dict(ENV, TZ="UTC"), check=True).stdout
    listing, current = {}, None
    line_re = re.compile(r"^\s*(\d+) (\w{3} [ \d]\d \d\d:\d\d \d{4}) (.*)$")
    for line in out.splitlines():
        if line.endswith(":") and line.startswith("/"):
            current = line[:-1].rstrip("/")
            continue
        m = line_re.match(line)
        if m and m.group(3) not in (".", ".."):
            listing[f"{current}/{m.group(3)}"] = (int(m.group(1)), m.group(2))
    return listing


def _diskkit_long(image: str) -> dict[str, tuple[int, str]]:
    import time

    out = {}
    for line in diskkit("ntfs", "ls", "-r", "-l", image, "/").stdout.splitlines():
        _, size, day, clock, path = line.split(None, 4)
        when = time.strftime("%b %e %H:%M %Y", time.strptime(f"{day} {clock}",
                                                              "%Y-%m-%d %H:%M:%S"))
        out[path.rstrip("/")] = (int(size), when)
    return out


def _stale_index_copies(image: str, names: list[str]) -> int:
    """Give ``names``' $FILE_NAME copies in their directories' indexes wrong sizes and
    times, as Windows leaves them (it updates those copies lazily; ntfs-3g keeps them
    current); the files' records stay as they are. Returns the keys changed in index roots
    and in index blocks (unused slack included)."""
    from support.ntfs_hostile import Layout, attributes, edit_index_block, edit_record, unfixed

    img = bytearray(open(image, "rb").read())
    lay = Layout(img)
    keys = [re.compile(re.escape(bytes([len(n)])) + b"[\x00-\x03]" + re.escape(n.encode("utf-16-le")))
            for n in names]
    changed = {"root": 0, "block": 0}

    def stale(buf: bytearray, start: int, end: int, where: str) -> None:
        for key in keys:
            for m in key.finditer(bytes(buf[start:end])):
                fn = start + m.start() - 64  # the $FILE_NAME value the name ends
                struct.pack_into("<QQQ", buf, fn + 16, 1, 1, 1)  # modified, mft changed, accessed
                struct.pack_into("<QQ", buf, fn + 40, 1 << 40, 123456789)  # allocated, data size
                changed[where] += 1

    def in_index_root(rec: bytearray) -> None:
        for type_, a, length in attributes(rec):
            if type_ == 0x90:
                stale(rec, a, a + length, "root")

    for n in range(16, len(img) // lay.record):
        off = lay.record_offset(n)
        if off + lay.record > len(img) or img[off:off + 4] != b"FILE":
            break
        if any(type_ == 0x90 for type_, _, _ in attributes(unfixed(img, off, lay.record))):
            edit_record(img, lay, n, in_index_root)
    for pos in range(0, len(img), lay.cluster):
        if img[pos:pos + 4] == b"INDX":
            edit_index_block(img, pos, lambda block: stale(block, 0, len(block), "block"))
    with open(image, "wb") as fh:
        fh.write(img)
    return changed["root"], changed["block"]


def test_stale_index_copies_never_show(tree_image, tmp_path):
    """ls -l takes sizes and times from each file's record, as ntfsls -l does, never from the
    copies in the directory index: with those copies wrong (in an index root and in index
    blocks) the listing still equals ntfsls -R -l, ntfs stat and the files written."""
    need_tool("ntfsls")
    image = str(tmp_path / "stale.img")
    with open(tree_image[0], "rb") as src, open(image, "wb") as dst:
        dst.write(src.read())
    tree = tree_image[1]
    files = [p for p, d in tree.items() if d is not None]
    in_root = [p for p in files if p.endswith("/bottom.txt")]  # alone in its directory
    in_blocks = [p for p in files if p.startswith("/big/")][:3]
    names = [p.rsplit("/", 1)[1] for p in in_root + in_blocks]
    roots, blocks = _stale_index_copies(image, names)
    assert roots >= 1 and blocks >= 3
    ours, theirs = _diskkit_long(image), _ntfsls_long(image)
    assert ours == {p: v for p, v in theirs.items() if not p.split("/")[1].startswith("$")}
    for path in in_root + in_blocks:
        assert ours[path][0] == len(tree[path])
        stat = json.loads(diskkit("ntfs", "stat", "--json", image, path).stdout)[0]
        assert stat["size"] == len(tree[path]) and stat["modified"].startswith("20")


def test_listing_of_damaged_records_equals_the_full_parse():
    """Records changed at random: the listing's direct read gives the full parse's entry, or
    hands the record on (then the full parse reads it or names the damage)."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    from diskkit.blockdev import MemoryDevice
    from diskkit.errors import DiskkitError
    from support.ntfs_hostile import Layout, edit_record, ntfs_base

    base = ntfs_base()
    lay = Layout(base)
    targets = [lay.find_record(base, n) for n in ("big.bin", "README.TXT")]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(targets), st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)),
                                              min_size=1, max_size=4), st.booleans())
    def check(number, edits, through_fixups):
        img = bytearray(base)

        def change(rec):
            for at, value in edits:
                rec[at] = value
        if through_fixups:
            edit_record(img, lay, number, change)
        else:
            change(memoryview(img)[lay.record_offset(number):])
        vol = NtfsVolume(MemoryDevice(bytes(img), writable=False))
        try:
            full = vol._entry(vol.inode(number), "name", 5)
        except DiskkitError:
            full = None
        direct = vol._listed_entry(number, 0, "name", 5)
        assert direct is None or direct == full

    check()
