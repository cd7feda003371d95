"""Property: any image's disk survives every chain of conversions byte for byte.

Sources are diskkit.testing images (raw, VHD or VHDX; tables, FAT volumes, runs of random and
zero data anywhere, holes around them) of at most 2 MiB.
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from diskkit import signatures, testing
from diskkit.image import open_image
from diskkit.ops.compact import compact
from diskkit.ops.convert import convert
from diskkit.units import MiB

containers = st.sampled_from(["raw", "fixed", "dynamic"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=testing.descriptions(sector_size=512, max_size=2 * MiB),
       chain=st.lists(containers, min_size=1, max_size=3),
       block_exp=st.integers(12, 18))
def test_conversion_chains_keep_every_byte(source, chain, block_exp):
    size = source.container.size
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        testing.build(source, src, durable=False)
        with open_image(src) as dev:
            model = dev.read_at(0, size)
        # a raw disk starting like another container's file (a qcow or VMDK magic, an ISO 9660
        # volume) or ending in a VHD footer cookie is taken for it (by design): such content
        # cannot pass through a raw step
        assume(signatures.container(bytes(model[:signatures.CONTAINER_HEAD])) is None
               and model[32769:32774] != b"CD001" and b"conectix" not in model[-512:-503])
        for step, to in enumerate(chain):
            out = os.path.join(tmp, f"{step}.{to}")
            convert(src, out, to, block_size=1 << block_exp)
            src = out
        compact(src)
        with open_image(src) as dev:
            assert dev.container == chain[-1] and dev.size == size
            assert dev.read_at(0, size) == model
