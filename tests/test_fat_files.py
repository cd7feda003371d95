"""Files and directories on FAT, checked against fsck.fat, mtools and libfsfat (pyfsfat)."""

from __future__ import annotations

import os
import random

import pytest
from support import diskkit, run
from support.fat import (assert_fsck_clean, fat_tree, host_tree, mtools_tree, new_image,
                         open_volume, pyfsfat_tree)

from diskkit.errors import AlreadyExists, DiskkitError, NoSpace, NotFound, UsageError
from diskkit.fat import FatFS, check, hosttree, mkfs
from diskkit.units import MiB

NAMES = ["grub.cfg", "README.md", "Makefile", "A Long File Name With Spaces.txt",
         "archive.tar.gz", ".hidden", "UPPER.TXT", "x", "ünïcødé файл.txt", "semi;colon+plus=.txt",
         "exactly8.abc", "toolongbasename.c", "mixedCase.Txt"]


def make_host_tree(root: str, seed: int = 1) -> None:
    """A tree of awkward names and sizes around cluster boundaries."""
    rnd = random.Random(seed)
    os.makedirs(os.path.join(root, "EFI", "BOOT"))
    os.makedirs(os.path.join(root, "deep", "er", "and deeper still"))
    os.makedirs(os.path.join(root, "empty dir"))
    sizes = [0, 1, 511, 512, 2047, 2048, 2049, 4096, 65536 + 3, 300_000]
    for i, name in enumerate(NAMES):
        with open(os.path.join(root, name), "wb") as fh:
            fh.write(rnd.randbytes(sizes[i % len(sizes)]))
    for i in range(12):  # forces ~1..~9 and then ~10 short-name tails
        with open(os.path.join(root, "deep", f"longfilename{i}.txt"), "wb") as fh:
            fh.write(f"file {i}\n".encode())
    with open(os.path.join(root, "EFI", "BOOT", "grub.cfg"), "w") as fh:
        fh.write("echo hi\n")
    with open(os.path.join(root, "deep", "er", "and deeper still", "big.bin"), "wb") as fh:
        fh.write(rnd.randbytes(1_000_000))


@pytest.fixture(params=[12, 16, 32], ids=["fat12", "fat16", "fat32"])
def volume(request, tmp_path):
    size = {12: 4 * MiB, 16: 32 * MiB, 32: 40 * MiB}[request.param]
    img = new_image(tmp_path / "fat.img", size)
    dev = open_volume(img)
    mkfs(dev, fat_type=request.param, label="DISKKIT")
    return img, dev


def test_put_tree_read_back_by_every_oracle(volume, tmp_path):
    img, dev = volume
    src = str(tmp_path / "src")
    make_host_tree(src)
    with FatFS(dev) as fs:
        hosttree.put(fs, src, "/", recursive=True)
        expected = {os.path.join("src", k) if k != "." else "src": v
                    for k, v in host_tree(src).items()}
        expected["src"] = None
        assert fat_tree(fs) == expected
    dev.close()
    assert_fsck_clean(img)
    assert mtools_tree(img) == expected
    assert pyfsfat_tree(img) == expected


def test_short_names_and_case_flags_as_mtools_shows_them(volume, tmp_path):
    img, dev = volume
    with FatFS(dev) as fs:
        for name in ("grub.cfg", "README.md", "Makefile", "KERNEL.EFI", "A Long Name.txt"):
            fs.write_file("/" + name, b"x")
    dev.close()
    listing = run("mdir", "-i", img, "-a", "::").stdout
    lines = {line.split()[0] + " " + line.split()[1]: line for line in listing.splitlines()
             if line.strip() and not line.startswith((" ", "Directory"))}
    # 8.3 names with one case per part need no long name: mdir shows them without one
    assert "grub cfg" in lines and lines["grub cfg"].rstrip().endswith(lines["grub cfg"].split()[-1])
    assert "README md" in lines
    assert "KERNEL EFI" in lines
    assert any(line.rstrip().endswith("Makefile") for line in listing.splitlines())
    assert any(line.rstrip().endswith("A Long Name.txt") and "ALONGN~1" in line
               for line in listing.splitlines())
    raw = open(img, "rb").read()
    assert b"GRUB    CFG" in raw and b"MAKEFI~1   " in raw
    assert_fsck_clean(img)


def test_case_insensitive_lookup_preserves_case(volume):
    _, dev = volume
    with FatFS(dev) as fs:
        fs.mkdir("/EFI/Boot", parents=True)
        fs.write_file("/efi/BOOT/BootX64.efi", b"MZ")
        assert [e.name for e in fs.listdir("/EFI/BOOT")] == ["BootX64.efi"]
        assert fs.read_file("/EFI/boot/bootx64.EFI") == b"MZ"
        assert fs.read_file("/EFI/BOOT/BOOTX64.EFI") == b"MZ"
        with pytest.raises(AlreadyExists):
            fs.mkdir("/efi")
        fs.mkdir("/efi", parents=True)  # -p accepts an existing directory


def test_overwrite_rename_remove(volume, tmp_path):
    img, dev = volume
    with FatFS(dev) as fs:
        fs.mkdir("/a/b", parents=True)
        fs.write_file("/a/b/file.txt", b"1" * 5000)
        fs.write_file("/a/b/file.txt", b"2" * 100)  # replace: frees the old chain
        assert fs.read_file("/a/b/file.txt") == b"2" * 100
        fs.rename("/a/b/file.txt", "/a/Renamed Long.txt")
        fs.rename("/a/Renamed Long.txt", "/a/renamed long.TXT")  # case-only rename
        fs.mkdir("/c")
        fs.rename("/a/b", "/c")  # into a directory: '..' must follow
        fs.rename("/c/b", "/c/moved")
        with pytest.raises(UsageError):
            fs.rename("/c", "/c/moved")
        with pytest.raises(UsageError):
            fs.remove("/c")  # not empty
        fs.write_file("/c/moved/x", b"x")
        assert [e.name for e in fs.listdir("/a")] == ["renamed long.TXT"]
        free_before = fs.usage()["free_clusters"]
        fs.remove("/c", recursive=True)
        assert fs.usage()["free_clusters"] == free_before + 3
        with pytest.raises(NotFound):
            fs.stat("/c/moved")
    dev.close()
    assert_fsck_clean(img)
    assert mtools_tree(img) == {"a": None, "a/renamed long.TXT": b"2" * 100}


def test_invalid_names_rejected(volume):
    _, dev = volume
    with FatFS(dev) as fs:
        for bad in ("a:b", "q?", "star*", "pipe|", 'quote"', "lt<", "ends.", "ends ", "ctl\x01",
                    "x" * 256):
            with pytest.raises(UsageError):
                fs.write_file("/" + bad, b"")
        with pytest.raises(UsageError):
            fs.write_file("/../x", b"")


def test_full_filesystem_and_full_root(tmp_path):
    img = new_image(tmp_path / "small.img", 2 * MiB)
    dev = open_volume(img)
    mkfs(dev, fat_type=12)
    with FatFS(dev) as fs:
        with pytest.raises(NoSpace):
            fs.write_file("/big", bytes(3 * MiB))
        for i in range(512):
            fs.write_file(f"/F{i}", b"")
        with pytest.raises(NoSpace):
            fs.write_file("/one more", b"")
        assert fs.usage()["free_clusters"] == fs.layout.cluster_count
    dev.close()
    assert_fsck_clean(img)


def test_reproducible_images(tmp_path):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    src = str(tmp_path / "src")
    make_host_tree(src)
    images = []
    for n in range(2):
        img = new_image(tmp_path / f"r{n}.img", 40 * MiB)
        diskkit("fat", "mkfs", img, "--label", "REPRO", env=env)
        diskkit("fat", "put", "-r", img, src, "/", env=env)
        images.append(open(img, "rb").read())
    assert images[0] == images[1]
    listing = run("mdir", "-i", str(tmp_path / "r0.img"), "::src").stdout
    assert "2023-11-14" in listing  # SOURCE_DATE_EPOCH, not the host files' times


def test_host_mtime_kept(volume, tmp_path):
    img, dev = volume
    host = tmp_path / "f.txt"
    host.write_bytes(b"data")
    os.utime(host, (1600000000, 1600000000))  # 2020-09-13 12:26:40 UTC
    with FatFS(dev) as fs:
        hosttree.put(fs, str(host), "/")
        assert fs.stat("/f.txt").mtime == 1600000000
    dev.close()
    out = tmp_path / "out"
    out.mkdir()
    diskkit("fat", "get", img, "/f.txt", str(out))
    assert os.stat(out / "f.txt").st_mtime == 1600000000
    assert "2020-09-13  12:26" in run("mdir", "-i", img, "::f.txt").stdout


@pytest.mark.parametrize("hostile", ["../../pwned", "..", "..\\pwned", "c:pwned", "a\x01b",
                                     "/abs/pwned"])
def test_get_refuses_hostile_names(tmp_path, hostile):
    from diskkit.fat import names

    img = new_image(tmp_path / "h.img", 8 * MiB)
    dev = open_volume(img)
    mkfs(dev, fat_type=16)
    with FatFS(dev) as fs:
        fs.mkdir("/d")
        fs.write_file("/d/abcdefghijk", b"pwned")
        short = fs.stat("/d/abcdefghijk").raw11
    dev.close()
    raw = bytearray(open(img, "rb").read())
    pos = raw.find(names.lfn_entries("abcdefghijk", short))
    forged = names.lfn_entries(hostile, short)  # a well-formed LFN holding a hostile name
    assert len(forged) == 32
    raw[pos:pos + 32] = forged
    open(img, "wb").write(raw)
    (tmp_path / "x").mkdir()
    out = tmp_path / "x" / "out"
    proc = diskkit("fat", "get", "-r", img, "/", str(out), check=False)
    assert proc.returncode == 2 and "unsafe name" in proc.stderr
    assert not any("pwned" in f for _, _, fs_ in os.walk(tmp_path) for f in fs_)
    report = diskkit("fat", "check", img, check=False)
    assert report.returncode == 1


def test_get_never_writes_through_symlinks(tmp_path):
    img2 = new_image(tmp_path / "s.img", 8 * MiB)
    dev = open_volume(img2)
    mkfs(dev, fat_type=16)
    with FatFS(dev) as fs:
        fs.mkdir("/sub")
        fs.write_file("/sub/file", b"x")
    dev.close()
    dest = tmp_path / "dest"
    dest.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    os.symlink(victim, dest / "sub")
    proc = diskkit("fat", "get", "-r", img2, "/", str(dest), check=False)
    assert proc.returncode == 2 and "symbolic link" in proc.stderr
    assert list(victim.iterdir()) == []


def test_cli_round_trip_and_errors(tmp_path):
    img = new_image(tmp_path / "c.img", 64 * MiB)
    out = diskkit("fat", "mkfs", img, "--label", "cli", "--volume-id", "1234-ABCD", "--json").stdout
    assert '"fat_type": 16' in out and '"volume_id": "1234-ABCD"' in out
    assert "serial number: 1234ABCD" in run("minfo", "-i", img, "::").stdout
    (tmp_path / "hello.txt").write_text("hello\n")
    diskkit("fat", "mkdir", "-p", img, "/EFI/BOOT")
    diskkit("fat", "put", img, str(tmp_path / "hello.txt"), "/EFI/BOOT")
    assert diskkit("fat", "cat", img, "/efi/boot/HELLO.TXT").stdout == "hello\n"
    ls = diskkit("fat", "ls", "-l", img, "/EFI/BOOT").stdout
    assert "HELLO.TXT" in ls and "hello.txt" in ls
    assert '"size": 6' in diskkit("fat", "stat", "--json", img, "/EFI/BOOT/hello.txt").stdout
    assert "hello.txt" in diskkit("fat", "tree", img).stdout
    diskkit("fat", "mv", img, "/EFI/BOOT/hello.txt", "/EFI/hi.txt")
    diskkit("fat", "rm", img, "/EFI/hi.txt")
    assert diskkit("fat", "check", img).returncode == 0
    missing = diskkit("fat", "cat", img, "/nope", check=False)
    assert missing.returncode == 2 and missing.stderr.startswith("diskkit: error: /nope")
    not_fat = new_image(tmp_path / "zero.img", MiB)
    bad = diskkit("fat", "ls", not_fat, check=False)
    assert bad.returncode == 2 and "not a valid FAT boot sector" in bad.stderr
    assert run("mlabel", "-i", img, "-s", "::").stdout.strip().endswith("CLI")


def test_partition_with_gpt(tmp_path):
    img = new_image(tmp_path / "gpt.img", 80 * MiB)
    run("sgdisk", "-n", "1:2048:+60M", "-t", "1:ef00", img)
    start = 2048 * 512
    diskkit("fat", "mkfs", img, "--part", "1", "--fat", "16", "--label", "ESP")
    (tmp_path / "f").write_bytes(b"in a partition")
    diskkit("fat", "put", img, "--part", "1", str(tmp_path / "f"), "/")
    assert run("mtype", "-i", f"{img}@@{start}", "::f").stdout == "in a partition"
    assert pyfsfat_tree(img, start) == {"f": b"in a partition"}
    boot = open(img, "rb").read()[start:start + 512]
    assert int.from_bytes(boot[28:32], "little") == 2048  # hidden sectors = partition start
    assert_fsck_clean(img, start, 60 * MiB)
    assert run("sgdisk", "-v", img).returncode == 0


def test_read_only_device_refuses_writes(volume):
    img, dev = volume
    dev.close()
    ro = open_volume(img, writable=False)
    fs = FatFS(ro)
    with pytest.raises(DiskkitError):
        fs.mkdir("/x")


def test_zero_free_and_usage(tmp_path):
    img = new_image(tmp_path / "z.img", 64 * MiB)
    dev = open_volume(img)
    mkfs(dev, fat_type=16, label="USAGE")
    with FatFS(dev) as fs:
        fs.write_file("/keep", b"k" * 5000)
        fs.write_file("/gone", os.urandom(4 * MiB))
        offset = fs.layout.cluster_offset(fs.stat("/gone").cluster)
        fs.remove("/gone")
        assert open(img, "rb").read()[offset:offset + 16] != bytes(16)  # still on disk
        fs.zero_free()
        usage = fs.usage()
    assert open(img, "rb").read()[offset:offset + 4 * MiB] == bytes(4 * MiB)
    assert usage["fat_type"] == 16 and usage["label"] == "USAGE"
    assert usage["used_bytes"] == 3 * 2048 and usage["free_bytes"] + usage["used_bytes"] == usage["total_bytes"]
    assert os.stat(img).st_blocks * 512 < 2 * MiB  # the freed clusters became holes
    assert fat_tree(FatFS(open_volume(img, writable=False))) == {"keep": b"k" * 5000}
    assert_fsck_clean(img)


@pytest.mark.parametrize("vhd_type", ["fixed", "dynamic"])
def test_fat_inside_a_vhd(tmp_path, vhd_type):
    from diskkit import vhd

    img = str(tmp_path / "disk.vhd")
    vhd.create(img, 64 * MiB, vhd_type=vhd_type)
    diskkit("fat", "mkfs", img, "--label", "INVHD")
    (tmp_path / "payload.bin").write_bytes(os.urandom(3 * MiB + 5))
    diskkit("fat", "put", img, str(tmp_path / "payload.bin"), "/")
    raw = str(tmp_path / "disk.raw")
    run("qemu-img", "convert", "-f", "vpc", "-O", "raw", img, raw)
    assert mtools_tree(raw) == {"payload.bin": (tmp_path / "payload.bin").read_bytes()}
    assert_fsck_clean(raw)


@pytest.mark.parametrize("fat_type", [16, 32])
def test_4k_sectors(tmp_path, fat_type):
    from diskkit.blockdev import FileDevice

    img = new_image(tmp_path / "4kn.img", 600 * MiB)
    dev = FileDevice(img, writable=True, sector_size=4096)
    layout = mkfs(dev, fat_type=fat_type, cluster_size=4096 if fat_type == 32 else 16384)
    assert layout.sector_size == 4096
    with FatFS(dev) as fs:
        fs.mkdir("/EFI/BOOT", parents=True)
        fs.write_file("/EFI/BOOT/A Long Name.bin", bytes(range(256)) * 100)
    assert check(dev).clean
    dev.close()
    assert_fsck_clean(img)
    assert pyfsfat_tree(img) == {"EFI": None, "EFI/BOOT": None,
                                 "EFI/BOOT/A Long Name.bin": bytes(range(256)) * 100}


def _digest(path) -> str:
    import hashlib

    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_file_over_4_gib_refused_before_a_byte_is_written(tmp_path):
    """FAT32's largest file is 4 GiB - 1: a bigger one is refused up front, with the way out."""
    from diskkit.fat import MAX_FILE_SIZE, check_file_size

    img = new_image(tmp_path / "v.img", 64 * MiB)
    run("mkfs.fat", "-F", "32", img)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a small file.txt").write_bytes(b"small\n")
    big = tree / "z huge.vhd"
    with open(big, "wb") as fh:
        fh.truncate(MAX_FILE_SIZE + 1)  # sparse: no 4 GiB written to the host
    before = _digest(img)
    for args in ([big, "/"], ["-r", tree, "/"], [tree / "a small file.txt", big, "/"]):
        proc = diskkit("fat", "put", img, *args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "4 GiB - 1" in proc.stderr and "NTFS or exFAT" in proc.stderr
        assert "split" in proc.stderr and "internal error" not in proc.stderr
        assert _digest(img) == before, f"fat put {args} wrote before refusing"
    with FatFS(open_volume(img)) as fs, open(big, "rb") as fh:
        with pytest.raises(UsageError, match="4 GiB - 1"):
            fs.write_file("/huge.vhd", fh)
    assert _digest(img) == before
    check_file_size(MAX_FILE_SIZE)  # the largest legal size passes
    with pytest.raises(UsageError):
        check_file_size(MAX_FILE_SIZE + 1, "x.vhd")


def test_put_that_cannot_fit_is_refused_before_writing(tmp_path):
    img = new_image(tmp_path / "v.img", 2 * MiB)
    run("mkfs.fat", "-F", "12", img)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "first.bin").write_bytes(os.urandom(1_000_000))
    (tree / "second.bin").write_bytes(os.urandom(1_500_000))
    before = _digest(img)
    proc = diskkit("fat", "put", "-r", img, tree, "/", check=False)
    assert proc.returncode == 2 and "nothing was copied" in proc.stderr, proc.stderr
    assert _digest(img) == before
    proc = diskkit("fat", "put", img, tree / "first.bin", tree / "second.bin", "/nodir", check=False)
    assert proc.returncode == 2 and "needs an existing directory" in proc.stderr


def make_small_files(root, count: int, rnd: random.Random) -> None:
    """``count`` small files (empty, one byte, around cluster sizes, up to 9 KB) with long
    names in 7 directories, and a 1.5 MiB file among them (copied apart, not gathered)."""
    for i in range(count):
        d = root / f"dir {i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        size = rnd.choice([0, 1, 512, 513, 1024, 4096, rnd.randint(2, 9000)])
        (d / f"small file {i:03d}.txt").write_bytes(rnd.randbytes(size))
    (root / "dir 3" / "big.bin").write_bytes(rnd.randbytes(1_500_000))


def expected_tree(src) -> dict:
    tree = {os.path.join("src", k) if k != "." else "src": v for k, v in host_tree(str(src)).items()}
    tree["src"] = None
    return tree


@pytest.mark.parametrize("fat_type", [16, 32])
def test_many_small_files_written_together(tmp_path, fat_type):
    """A copy of many small files reads them into one buffer and writes consecutive clusters
    together (far fewer writes than files); mtools extracts what was put, fsck.fat is clean."""
    img = new_image(tmp_path / "v.img", 40 * MiB)
    run("mkfs.fat", "-F", str(fat_type), img)
    make_small_files(tmp_path / "src", 300, random.Random(fat_type))
    dev = open_volume(img)
    writes = []
    write_at = dev.write_at
    dev.write_at = lambda offset, data: (writes.append(len(data)), write_at(offset, data))[1]
    with FatFS(dev) as fs:
        hosttree.put(fs, str(tmp_path / "src"), "/", recursive=True)
        fs.write_file("/src/dir 5/from memory.bin", b"\x07" * 5000)
        assert fs.read_file("/src/dir 5/from memory.bin") == b"\x07" * 5000  # before settling
    dev.close()
    assert len(writes) < 300 / 2, f"{len(writes)} writes for 300 small files"  # was one each
    assert_fsck_clean(img)
    assert mtools_tree(img) == {**expected_tree(tmp_path / "src"),
                                "src/dir 5/from memory.bin": b"\x07" * 5000}


def test_small_files_gathered_into_fragmented_free_space(tmp_path):
    """Free space only in holes of 1-6 clusters between kept files: files span several holes,
    the big one hundreds; every gathered piece lands where the FAT says."""
    from diskkit.fat.table import cluster_runs

    img = new_image(tmp_path / "v.img", 16 * MiB)
    run("mkfs.fat", "-F", "16", "-s", "1", img)
    rnd = random.Random(7)
    dev = open_volume(img)
    with FatFS(dev) as fs:
        fs.mkdir("/fill")
        for i in range(1600):
            fs.write_file(f"/fill/k{i}", b"k")
            fs.write_file(f"/fill/h{i}", bytes(512 * rnd.randint(1, 6)))
        fs.write_file("/rest", bytes(fs.usage()["free_bytes"]))
        for i in range(1600):
            fs.remove(f"/fill/h{i}")
    make_small_files(tmp_path / "src", 200, rnd)
    with FatFS(dev) as fs:
        hosttree.put(fs, str(tmp_path / "src"), "/", recursive=True)
        assert len(cluster_runs(fs.fat.chain(fs.stat("/src/dir 3/big.bin").cluster))) > 100
    with FatFS(dev) as fs:
        fs.remove("/fill", recursive=True)
        fs.remove("/rest")
    dev.close()
    assert_fsck_clean(img)
    assert mtools_tree(img) == expected_tree(tmp_path / "src")


@pytest.mark.parametrize("mkfs_args,mapped", [(["-F", "16", "-s", "8"], True),
                                               (["-F", "32"], False)], ids=["aligned", "unaligned"])
def test_big_files_copied_from_a_mapping_or_in_the_kernel(tmp_path, mkfs_args, mapped):
    """A file of 1 MiB or more goes from a mapping of the host file straight to the disk
    (O_DIRECT) where its clusters lie on 4 KiB boundaries of the image (4 KiB clusters from
    mkfs.fat), else through copy_file_range (512-byte clusters 1 KiB off the boundary): the
    same bytes either way, tails shorter than a block included, as mtools reads them."""
    img = new_image(tmp_path / "v.img", 64 * MiB)
    run("mkfs.fat", *mkfs_args, img)
    src = tmp_path / "src"
    src.mkdir()
    rnd = random.Random(len(mkfs_args))
    for name, size in [("tail.bin", 3 * MiB + 1234), ("blocks.bin", 2 * MiB), ("small.txt", 100)]:
        (src / name).write_bytes(rnd.randbytes(size))
    dev = open_volume(img)
    answers = []
    write_mapped = dev.region.write_mapped
    dev.region.write_mapped = lambda *a: answers.append(write_mapped(*a)) or answers[-1]
    with FatFS(dev) as fs:
        hosttree.put(fs, str(src), "/", recursive=True)
    dev.close()
    assert len(answers) == 2 and all((n > 0) == mapped for n in answers), answers
    assert_fsck_clean(img)
    assert mtools_tree(img) == expected_tree(src)


def test_copy_from_a_host_file_that_ended_early(tmp_path):
    """write_from_fd (the big-file path of a put) copies what the host file has and says how
    much, mapped and direct or not: the FAT layer then refuses a source that changed size."""
    data = os.urandom(3 * MiB + 100)
    (tmp_path / "src").write_bytes(data)
    dev = open_volume(new_image(tmp_path / "v.img", 16 * MiB))
    fd = os.open(tmp_path / "src", os.O_RDONLY)
    try:
        for offset in (4096, 4096 + 512):  # aligned: mapped; not: copy_file_range
            assert dev.write_from_fd(offset, fd, 0, 4 * MiB) == len(data)
            assert dev.read_at(offset, len(data)) == data
        volume = open_volume(new_image(tmp_path / "f.img", 16 * MiB))
        mkfs(volume, fat_type=16, cluster_size=4096)
        with FatFS(volume) as fs, fs.transaction():
            (tmp_path / "small").write_bytes(os.urandom(5000))
            small = os.open(tmp_path / "small", os.O_RDONLY)
            for source, size in ((fd, len(data) + MiB), (small, 9000)):  # alone; gathered
                with pytest.raises(DiskkitError, match="changed size"):
                    fs._store("/grown.bin", source, size, None)  # as if it shrank meanwhile
            os.close(small)
            fs.zero_free()  # what was gathered for the freed clusters lands before, not after
            free = list(fs.fat.free_runs(2))
        assert check(volume).clean
        assert all(volume.read_at(fs.layout.cluster_offset(first), count * 4096) == bytes(count * 4096)
                   for first, count in free)
        volume.close()
    finally:
        os.close(fd)
        dev.close()


def test_slack_zeroing_stays_inside_the_last_cluster():
    """Clusters need not be aligned to their size on the device (here: 1 KiB clusters from
    an odd sector): zeroing a last cluster's slack must not touch the next cluster."""
    from diskkit.blockdev import MemoryDevice

    dev = MemoryDevice(2 * MiB)
    layout = mkfs(dev, fat_type=12)
    assert layout.cluster_size == 1024 and layout.first_data_sector % 2
    with FatFS(dev) as fs:
        fs.mkdir("/a")
        fs.write_file("/neighbour", b"\x01")
    with FatFS(dev) as fs:
        fs.remove("/a")
        fs.write_file("/a", b"\x0b" * 513)
    with FatFS(dev) as fs:
        assert fs.read_file("/neighbour") == b"\x01" and fs.read_file("/a") == b"\x0b" * 513
    assert check(dev).clean


def test_without_part_the_only_data_partition_is_used(tmp_path):
    """`fat` commands without --part: an image sfdisk partitioned (one FAT partition that
    mkfs.fat made, a file mcopy put there) is read through its only data partition; with two
    data partitions the command lists them and asks for --part, without guessing."""
    image = str(tmp_path / "one.img")
    with open(image, "wb") as fh:
        fh.truncate(40 * MiB)
    run("sfdisk", "-q", image, input=b"label: gpt\nstart=2048, size=65536, type=U\n")
    run("mkfs.fat", "-F", "16", "--offset", "2048", image, str(65536 // 2))
    (tmp_path / "hello.txt").write_bytes(b"hello\n")
    run("mcopy", "-i", f"{image}@@1M", tmp_path / "hello.txt", "::/hello.txt")
    assert diskkit("fat", "ls", image, "/").stdout.split() == ["hello.txt"]
    assert diskkit("fat", "cat", image, "/hello.txt").stdout == "hello\n"
    assert "partition 1: clean" in diskkit("fat", "check", image).stdout
    run("sfdisk", "-q", "--append", image, input=b"start=67584, size=8192, type=L\n")
    proc = diskkit("fat", "ls", image, "/", check=False)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"diskkit: error: {image} has 2 data partitions (1: EFI system partition, 32 MiB; "
        "2: Linux filesystem, 4 MiB): pick one with --part N"]
    assert diskkit("fat", "ls", image, "--part", "1", "/").stdout.split() == ["hello.txt"]
