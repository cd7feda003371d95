"""hypothesis: `info`/`check` on damaged images raise DiskkitError or report, nothing else.

The images are diskkit.testing's: raw GPT or MBR disks (512- or 4096-byte sectors, logical
partitions too) with at least one FAT12/16 volume, whatever else is drawn, then bytes
overwritten where the structures lie most densely (the first 160 KiB, the last 20 KiB).
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from diskkit import testing
from diskkit.ops import inspect
from diskkit.errors import DiskkitError
from diskkit.units import KiB, MiB

DISKS = testing.descriptions(container="raw", table=["gpt", "mbr"], fs=["fat12", "fat16"],
                             max_size=4 * MiB)


def _offsets(size: int):
    return st.one_of(st.integers(0, min(160 * KiB, size) - 1),
                     st.integers(max(0, size - 20 * KiB), size - 1), st.integers(0, size - 1))


@settings(max_examples=120, deadline=None)
@given(disk=DISKS, data=st.data())
def test_damaged_images_never_crash_info_or_check(disk, data):
    size = disk.container.size
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.img")
        testing.build(disk, path, durable=False)
        with open(path, "r+b") as fh:
            for _ in range(data.draw(st.integers(1, 16))):
                offset = data.draw(_offsets(size))
                fh.seek(offset)
                fh.write(data.draw(st.binary(min_size=1, max_size=8))[:size - offset])
        for action in (inspect.info, inspect.check):
            try:
                action(path)
            except DiskkitError:
                pass
