"""The test support layer itself: skips name what is missing, the corpus unpacks exactly."""

from __future__ import annotations

import os
import random
import tarfile

import pytest

from support import corpus as corpus_support
from support import assert_command, diskkit, need_module, need_tool, run

MiB = 1 << 20


def test_need_tool_skips_naming_the_tool():
    with pytest.raises(pytest.skip.Exception, match="no-such-tool-x"):
        need_tool("no-such-tool-x")
    assert need_tool("sh").endswith("/sh")


def test_need_module_skips_naming_the_module_and_fails_on_a_broken_one(tmp_path, monkeypatch):
    with pytest.raises(pytest.skip.Exception, match="no_such_module_x"):
        need_module("no_such_module_x")
    (tmp_path / "broken_module_x.py").write_text("import no_such_dependency_y\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_y"):
        need_module("broken_module_x")  # installed but broken: an error, not a skip


def test_runners_raise_with_the_output():
    with pytest.raises(AssertionError, match="no-such-command"):
        diskkit("no-such-command")
    assert diskkit("no-such-command", check=False).returncode == 2
    assert run("sh", "-c", "echo $LC_ALL").stdout.strip() == "C"


def test_assert_command_walks_the_command_tree():
    assert_command("--device", "fat", "ls", "-l", "{img}")
    assert_command("resize", "{img}", "--size", "+1M")
    for bad in (("fat",), ("fat", "lsx", "{img}"), ("no-such-command",), ()):
        with pytest.raises(AssertionError, match="names no command"):
            assert_command(*bad)


def test_unpack_is_exact_and_sparse(tmp_path):
    """A multi-block .tar.xz (repeated zero blocks, data blocks, a file spanning blocks)
    unpacks to the bytes tar gives, with the zero runs left as holes."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    rng = random.Random(5)
    big = bytearray(12 * MiB)
    for pos in (0, 3 * MiB + 17, 9 * MiB - 100, 12 * MiB - 4096):
        big[pos:pos + 4096] = rng.randbytes(4096)
    (src / "big.img").write_bytes(big)
    (src / "sub" / "small.txt").write_bytes(b"hello\n")
    (src / "sub" / "empty").write_bytes(b"")
    (src / "zeros.img").write_bytes(bytes(5 * MiB))
    archive = tmp_path / "c.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(src, arcname=".")
    run(need_tool("xz"), "-T1", "--block-size=1MiB", "-k", archive)
    out = tmp_path / "out"
    out.mkdir()
    corpus_support.unpack(str(archive) + ".xz", out)
    for name in ("big.img", "sub/small.txt", "sub/empty", "zeros.img"):
        assert (out / name).read_bytes() == (src / name).read_bytes(), name
    assert os.stat(out / "zeros.img").st_blocks == 0
    assert os.stat(out / "big.img").st_blocks * 512 <= 5 * MiB  # the data's 5 MiB pieces


def test_corpus_helpers(corpus):
    assert "ul-pt/gpt.img" in corpus.names("ul-pt", ".img")
    header, rows = corpus.pt_expected("ul-pt/gpt.img")
    assert "PT: gpt" in header and rows[0] == (1, 34, 2014, "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")
    assert corpus.blkid_expected("ul-fs/exfat.img")["ID_FS_TYPE"] == "exfat"
    assert "refuse:vhdx" in corpus.expectations("vhd-foreign/dissect-fixed.vhdx")
    assert all(corpus.path(row.path) for row in corpus.expect())
