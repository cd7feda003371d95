"""Property: any sparse content survives every chain of conversions byte for byte."""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from diskkit import signatures
from diskkit.image import open_image
from diskkit.ops.compact import compact
from diskkit.ops.convert import convert

containers = st.sampled_from(["raw", "fixed", "dynamic"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sectors=st.integers(1, 1200),
       writes=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 100000), st.binary(min_size=1, max_size=8)),
                       max_size=8),
       chain=st.lists(containers, min_size=1, max_size=3),
       block_exp=st.integers(12, 18))
def test_conversion_chains_keep_every_byte(sectors, writes, chain, block_exp):
    size = sectors * 512
    model = bytearray(size)
    for where, length, pattern in writes:
        length = min(length, size)
        off = int(where * (size - length))
        model[off:off + length] = (pattern * (length // len(pattern) + 1))[:length]
    # a raw disk starting like another container's file (a qcow or VMDK magic, an ISO 9660
    # volume) or ending in a VHD footer cookie is taken for it (by design): such content
    # cannot pass through a raw step
    assume(signatures.container(bytes(model[:signatures.CONTAINER_HEAD])) is None
           and model[32769:32774] != b"CD001" and b"conectix" not in model[-512:-503])
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src.raw")
        with open(src, "wb") as fh:
            fh.write(model)
        for step, to in enumerate(chain):
            out = os.path.join(tmp, f"{step}.{to}")
            convert(src, out, to, block_size=1 << block_exp)
            src = out
        compact(src)
        with open_image(src) as dev:
            assert dev.container == chain[-1] and dev.size == size
            assert dev.read_at(0, size) == bytes(model)
