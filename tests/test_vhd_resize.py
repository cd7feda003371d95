"""Container resize: qemu-img sees the new size, data is kept, and an interruption at any
write leaves an image that ``check`` accepts with the old or the new size."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from diskkit import vhd
from diskkit.blockdev import FileRegion
from diskkit.errors import UsageError
from diskkit.image import open_image, resize_container
from diskkit.units import GiB, MiB
from support.vhd import device_digest, qemu_size, random_writes


def _filled(path, kind, size, seed=3):
    vhd.create(path, size, kind)
    with open_image(path, writable=True) as dev:
        random_writes(dev, seed=seed, count=25)
        dev.write_at(0, b"\x42" * 5 * MiB)  # the first blocks, which a BAT grow must move
        return device_digest(dev)


def _prefix_digest(path, length):
    with open_image(path) as dev:
        from diskkit.blockdev import SliceDevice

        return device_digest(SliceDevice(dev, 0, length))


@pytest.mark.parametrize("kind", ["fixed", "dynamic", "raw"])
def test_grow_keeps_data_and_qemu_sees_new_size(tmp_path, kind):
    path = tmp_path / "g.img"
    size = 64 * MiB
    if kind == "raw":
        path.write_bytes(os.urandom(MiB))
        with open(path, "r+b") as fh:
            fh.truncate(size)
        digest = _prefix_digest(path, size)
    else:
        digest = _filled(path, kind, size)
    new = 4 * GiB + 512 * 3  # BAT grows from 32 to 2049 entries: blocks must move
    result = resize_container(path, new)
    assert result["old_size"] == size and result["new_size"] == new
    assert qemu_size(path, "vpc" if kind != "raw" else "raw") == new
    assert _prefix_digest(path, size) == digest
    with open_image(path) as dev:
        assert dev.read_at(size, MiB) == bytes(MiB)
        assert dev.read_at(new - MiB, MiB) == bytes(MiB)
    assert vhd.check(path).clean, vhd.check(path).to_text()


@pytest.mark.parametrize("kind", ["fixed", "dynamic"])
def test_shrink_refuses_to_cut_data_unless_forced(tmp_path, kind):
    path = tmp_path / "s.vhd"
    vhd.create(path, 64 * MiB, kind)
    with open_image(path, writable=True) as dev:
        dev.write_at(0, b"keep" * 1024)
        dev.write_at(40 * MiB + 123, b"cut me")
    with pytest.raises(UsageError, match=str(40 * MiB + 123)):
        resize_container(path, 33 * MiB)
    resize_container(path, 41 * MiB)  # nothing beyond 41 MiB: allowed without force
    assert qemu_size(path) == 41 * MiB
    resize_container(path, 33 * MiB + 512, force=True)
    assert qemu_size(path) == 33 * MiB + 512
    assert vhd.check(path).clean
    resize_container(path, 64 * MiB)
    with open_image(path) as dev:
        assert dev.read_at(0, 4096) == b"keep" * 1024
        assert dev.read_at(33 * MiB, 31 * MiB) == bytes(31 * MiB)  # the cut data stays gone


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("kind,old,new", [
    ("dynamic", 64 * MiB, 4 * GiB),   # BAT grows past the first blocks
    ("dynamic", 64 * MiB, 80 * MiB),
    ("dynamic", 64 * MiB, 20 * MiB),
    ("fixed", 64 * MiB, 96 * MiB),
    ("fixed", 64 * MiB, 20 * MiB),
])
def test_interrupted_resize_leaves_a_valid_image(tmp_path, monkeypatch, kind, old, new):
    """Stop the resize before its k-th write, for every k; the image must stay valid."""
    pristine = tmp_path / "pristine.vhd"
    digest = _filled(pristine, kind, old)
    keep = min(old, new)
    keep_digest = _prefix_digest(pristine, keep) if keep < old else digest
    real_pwrite = FileRegion.pwrite
    real_truncate = FileRegion.truncate
    k = 0
    while True:
        work = tmp_path / "work.vhd"
        shutil.copy(pristine, work)
        calls = {"n": 0}

        def counted(fn):
            def wrapper(self, *args):
                calls["n"] += 1
                if calls["n"] > k:
                    raise _Interrupted()
                return fn(self, *args)
            return wrapper

        monkeypatch.setattr(FileRegion, "pwrite", counted(real_pwrite))
        monkeypatch.setattr(FileRegion, "truncate", counted(real_truncate))
        try:
            resize_container(work, new, force=True)
            finished = True
        except _Interrupted:
            finished = False
        monkeypatch.setattr(FileRegion, "pwrite", real_pwrite)
        monkeypatch.setattr(FileRegion, "truncate", real_truncate)
        report = vhd.check(work)
        if not report.clean:  # only between the two footer writes: the copy at 0 is stale
            assert [p.where for p in report.errors] == ["vhd footer copy"], \
                f"interrupted before write {k + 1}:\n{report.to_text()}"
            assert vhd.repair(work) and vhd.check(work).clean, k
        with open_image(work) as dev:
            assert dev.size in (old, new), k
        assert _prefix_digest(work, keep) == keep_digest, k
        if finished:
            assert qemu_size(work) == new
            break
        k += 1
    assert k >= 1  # at least one interruption point was exercised


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["fixed", "dynamic", "raw"]), block_exp=st.integers(12, 16),
       steps=st.lists(st.tuples(st.integers(1, 4000), st.floats(0, 1), st.binary(min_size=1, max_size=3000)),
                      min_size=1, max_size=5))
def test_random_resizes_match_a_model(kind, block_exp, steps):
    """Resize (force) then write, repeatedly: the image always reads like a bytearray model."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.img")
        size = 64 * 512
        if kind == "raw":
            with open(path, "wb") as fh:
                fh.truncate(size)
        else:
            vhd.create(path, size, kind, block_size=1 << block_exp)
        model = bytearray(size)
        for sectors, where, data in steps:
            new = sectors * 512
            resize_container(path, new, force=True)
            model = model[:new] + bytearray(max(0, new - len(model)))
            data = data[:new]
            off = int(where * (new - len(data)))
            with open_image(path, writable=True) as dev:
                assert dev.size == new
                dev.write_at(off, data)
            model[off:off + len(data)] = data
            with open_image(path) as dev:
                assert dev.read_at(0, new) == bytes(model)
            assert vhd.check(path).clean
