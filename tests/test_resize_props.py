"""hypothesis: random grow/shrink sequences keep the GPT valid (sgdisk -v) and data intact."""

from __future__ import annotations

import hashlib
import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st
from support import run

from diskkit import part, vhd
from diskkit.errors import DiskkitError
from diskkit.image import open_image
from diskkit.ops.resize import resize_image
from diskkit.units import KiB, MiB


def _first_partition_hash(path: str) -> str:
    with open_image(path) as dev:
        p = part.read_table(dev).partitions[0]
        return hashlib.sha256(part.partition_device(dev, 1).read_at(0, p.size)).hexdigest()


@settings(max_examples=25, deadline=None)
@given(container=st.sampled_from(["raw", "fixed"]),
       steps=st.lists(st.tuples(st.integers(4, 24), st.booleans(), st.booleans()),
                      min_size=1, max_size=5))
def test_random_resizes_stay_valid(container, steps):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.img")
        if container == "raw":
            with open(path, "wb") as fh:
                fh.truncate(8 * MiB)
        else:
            vhd.create(path, 8 * MiB, "fixed")
        with open_image(path, writable=True) as dev:
            part.init_gpt(dev)
            part.add_partition(dev, "esp", 2 * MiB, align=64 * KiB)
            part.partition_device(dev, 1).write_at(0, os.urandom(2 * MiB))
            part.add_partition(dev, "linux", None, align=64 * KiB)
        esp = _first_partition_hash(path)
        for quarters, grow, force in steps:  # 1 MiB .. 6 MiB in 256 KiB steps
            size = quarters * 256 * KiB
            try:
                resize_image(path, size, grow_part=2 if grow else None, force=force)
            except DiskkitError as exc:  # only the refusals a user can act on
                msg = str(exc)
                assert (("would cut" in msg and not force) or "no partition 2" in msg
                        or ("nothing left" in msg and grow)), msg
                continue
            with open_image(path) as dev:
                assert dev.size == size
                assert part.verify(dev).clean
                table = part.read_table(dev)
                assert table.backup_lba == size // 512 - 1
            raw = path
            if container != "raw":
                raw = os.path.join(tmp, "view.raw")
                run("qemu-img", "convert", "-f", "vpc", "-O", "raw", path, raw)
            assert "No problems found" in run("sgdisk", "-v", raw, check=False).stdout
            if size < 3 * MiB + 34 * 512:
                esp = None  # a forced shrink cut partition 1: its old bytes are gone for good
            elif esp is not None:
                assert _first_partition_hash(path) == esp
