"""Running out of space: a full FAT volume, a full partition table, and a full host disk.

The host disk is simulated with ``RLIMIT_FSIZE`` in the child process (with SIGXFSZ ignored,
so writes past the limit fail with EFBIG as on a full disk). Every case must end in one clear
``diskkit: error:`` line, leave the original intact (same content, check clean) and leave no
half-written new output behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import assert_command, diskkit
from support.reliability import assert_error, host_limit
from support.samples import (fat_image, fat_tree, gpt_image, sha, table_state, vhd_fat_tree,
                             vhd_source)

MiB = 1 << 20


def leftovers(directory: Path, before: set[str]) -> set[str]:
    return {p.name for p in directory.iterdir()} - before


@pytest.mark.parametrize("argv,limit", [
    (["vhd", "create", "--size", "64M", "--preallocate", "out.vhd"], 512 * 1024),
    (["vhd", "create", "--size", "64M", "--type", "dynamic", "--block-size", "64K", "out.vhd"], 2048),
    (["convert", "--to", "raw", "src.vhd", "out.img"], 512 * 1024),
    (["convert", "--to", "fixed", "src.vhd", "out.vhd"], 512 * 1024),
    (["convert", "--to", "dynamic", "--block-size", "64K", "src.vhd", "out.vhd"], 100 * 1024),
    (["convert", "--to", "vhdx", "--block-size", "1M", "src.vhd", "out.vhdx"], 4 * MiB + 4096),
    (["ramos", "init", "--size", "3G", "--no-ntfs", "out.vhd"], 512 * 1024),
], ids=lambda a: "-".join(w for w in a[:4] if not w.startswith("-")) if isinstance(a, list) else "")
def test_new_output_on_full_host(argv, limit, tmp_path):
    """A create/convert that hits a full disk leaves no output and no temporary file."""
    assert_command(*argv)
    vhd_source(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    source = sha(tmp_path / "src.vhd")
    proc = diskkit(*argv, cwd=str(tmp_path), preexec_fn=host_limit(limit), check=False)
    assert_error(proc, " ".join(argv))
    assert "too large" in proc.stderr.lower() or "space" in proc.stderr.lower(), proc.stderr
    assert leftovers(tmp_path, before) == set(), "a failed create left files behind"
    assert sha(tmp_path / "src.vhd") == source


def test_fat_put_into_full_volume(tmp_path):
    """A file bigger than the free space: NoSpace, and the volume is exactly as before."""
    assert_command("fat", "put")
    fat_image(tmp_path, size=2 * MiB)
    img = tmp_path / "fat.img"
    big = tmp_path / "too-big.bin"
    big.write_bytes(os.urandom(3 * MiB))
    old = fat_tree(img)
    proc = diskkit("fat", "put", img, big, "/too-big.bin", check=False)
    assert_error(proc, "fat put into a full volume")
    assert "space" in proc.stderr.lower() or "full" in proc.stderr.lower(), proc.stderr
    assert fat_tree(img) == old
    diskkit("fat", "check", img)


def test_fat_put_tree_until_full(tmp_path):
    """A tree that fits only partly: an error; each file is whole or absent; the check is clean."""
    assert_command("fat", "put")
    fat_image(tmp_path, size=2 * MiB)
    img = tmp_path / "fat.img"
    tree = tmp_path / "many"
    tree.mkdir()
    for i in range(12):
        (tree / f"part{i:02}.bin").write_bytes(os.urandom(200_000))
    old = fat_tree(img)
    proc = diskkit("fat", "put", "-r", img, tree, "/", check=False)
    assert_error(proc, "fat put -r until full")
    now = fat_tree(img)
    for path, digest in now.items():
        if path not in old and digest != "dir":
            assert digest == sha(tree / Path(path).name), f"{path} is incomplete"
    assert all(now.get(p) == d for p, d in old.items())
    diskkit("fat", "check", img)


def test_fat_mkdir_until_root_full(tmp_path):
    """FAT12/16 roots have a fixed number of slots: filling them is a clear error."""
    assert_command("fat", "mkdir")
    img = tmp_path / "fat.img"
    with open(img, "wb") as fh:
        fh.truncate(1 * MiB)
    diskkit("fat", "mkfs", img, "--fat", "12")
    from diskkit.blockdev import FileDevice
    from diskkit.errors import NoSpace
    from diskkit.fat import FatFS

    with FileDevice(str(img), writable=True) as dev:  # fill it quickly through the API
        fs = FatFS(dev)
        with pytest.raises(NoSpace):
            for i in range(600):
                fs.mkdir(f"/directory number {i:04}")
        fs.close()
    old = fat_tree(img)
    assert old and len(old) > 10
    assert_error(diskkit("fat", "mkdir", img, "/one more directory", check=False),
                 "mkdir into a full root")
    assert fat_tree(img) == old
    diskkit("fat", "check", img)


def test_part_add_larger_than_free(tmp_path):
    assert_command("part", "add")
    gpt_image(tmp_path)
    img = tmp_path / "disk.img"
    old = table_state(img)
    proc = diskkit("part", "add", img, "--type", "linux", "--size", "64M", check=False)
    assert_error(proc, "part add larger than the free space")
    assert table_state(img) == old
    diskkit("part", "verify", img)


def test_dynamic_vhd_cannot_grow_on_full_host(tmp_path):
    """Writing into a dynamic VHD needs new blocks; the host refuses: error, image intact."""
    assert_command("fat", "put")
    vhd_source(tmp_path)
    image = tmp_path / "src.vhd"
    payload = tmp_path / "payload-big.bin"
    payload.write_bytes(os.urandom(2 * MiB))
    old = vhd_fat_tree(image)
    limit = image.stat().st_size + 64 * 1024  # room for about one more block
    proc = diskkit("fat", "put", image, payload, "/payload-big.bin",
                   preexec_fn=host_limit(limit), check=False)
    assert_error(proc, "fat put into a dynamic VHD on a full host")
    assert vhd_fat_tree(image) == old
    diskkit("vhd", "check", image)
    diskkit("fat", "check", image)
