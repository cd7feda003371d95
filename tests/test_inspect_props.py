"""hypothesis: `info`/`check` on damaged images raise DiskkitError or report, nothing else."""

from __future__ import annotations

import functools
import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from diskkit import part
from diskkit.ops import inspect
from diskkit.errors import DiskkitError
from diskkit.fat import mkfs
from diskkit.image import open_image
from diskkit.units import KiB, MiB

SIZE = 4 * MiB


@functools.lru_cache(maxsize=None)
def sample(kind: str) -> bytes:
    """A 4 MiB disk: GPT or MBR, a FAT12 partition and a FAT16 one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.img")
        with open(path, "wb") as fh:
            fh.truncate(SIZE)
        with open_image(path, writable=True) as dev:
            (part.init_gpt if kind == "gpt" else part.init_mbr)(dev)
            for size in (MiB, None):
                p = part.add_partition(dev, "fat" if kind == "mbr" else "windows", size,
                                       align=64 * KiB)
                mkfs(part.partition_device(dev, p.index), label=f"P{p.index}")
        with open(path, "rb") as fh:
            return fh.read()


def _offsets():
    return st.one_of(st.integers(0, 160 * KiB), st.integers(SIZE - 20 * KiB, SIZE - 1),
                     st.integers(0, SIZE - 1))


@settings(max_examples=120, deadline=None)
@given(kind=st.sampled_from(["gpt", "mbr"]), data=st.data())
def test_damaged_images_never_crash_info_or_check(kind, data):
    image = bytearray(sample(kind))
    for _ in range(data.draw(st.integers(1, 16))):
        offset = data.draw(_offsets())
        span = data.draw(st.binary(min_size=1, max_size=8))
        image[offset:offset + len(span)] = span
    image = image[:SIZE]
    with tempfile.NamedTemporaryFile(suffix=".img") as fh:
        fh.write(image)
        fh.flush()
        for action in (inspect.info, inspect.check):
            try:
                action(fh.name)
            except DiskkitError:
                pass
