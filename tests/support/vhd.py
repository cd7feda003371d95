"""VHD files in tests: qemu-img's view, digests, random writes, and footer/BAT surgery."""

from __future__ import annotations

import hashlib
import json
import os
import random

from diskkit.image import open_image
from diskkit.vhd import dynamic as dyn
from diskkit.vhd.footer import build_footer, parse_footer
from support import run


def qemu_size(path, fmt="vpc") -> int:
    """Virtual size as qemu-img sees it."""
    out = run("qemu-img", "info", "--output=json", "-f", fmt, str(path)).stdout
    return json.loads(out)["virtual-size"]


def qemu_compare(a, fmt_a, b, fmt_b) -> bool:
    proc = run("qemu-img", "compare", "-f", fmt_a, "-F", fmt_b, str(a), str(b), check=False)
    if proc.returncode not in (0, 1):
        raise AssertionError(proc.stderr)
    return proc.returncode == 0


def random_writes(dev, seed: int, count: int, max_len: int = 70000, model: bytearray | None = None):
    """Apply reproducible random writes (some all-zero) to ``dev`` and to ``model``."""
    rng = random.Random(seed)
    for _ in range(count):
        n = rng.randrange(1, min(max_len, dev.size) + 1)
        off = rng.randrange(0, dev.size - n + 1)
        data = bytes(n) if rng.random() < 0.2 else rng.randbytes(n)
        dev.write_at(off, data)
        if model is not None:
            model[off:off + n] = data


def device_digest(dev, chunk: int = 4 << 20) -> str:
    h = hashlib.sha256()
    for pos in range(0, dev.size, chunk):
        h.update(dev.read_at(pos, min(chunk, dev.size - pos)))
    return h.hexdigest()


def file_digest(path, length: int | None = None, chunk: int = 4 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        left = os.path.getsize(path) if length is None else length
        while left > 0:
            data = fh.read(min(chunk, left))
            if not data:
                data = bytes(min(chunk, left))  # a short file reads as zeros past its end
            h.update(data)
            left -= len(data)
    return h.hexdigest()


def image_digest(path) -> str:
    with open_image(str(path)) as dev:
        return device_digest(dev)


def make_raw(path, size: int, seed: int, writes: int = 40) -> bytes:
    """A sparse raw file with random data at random places; returns nothing big."""
    with open(path, "wb") as fh:
        fh.truncate(size)
    rng = random.Random(seed)
    with open(path, "r+b") as fh:
        for _ in range(writes):
            n = rng.randrange(1, 300000)
            off = rng.randrange(0, size - n)
            fh.seek(off)
            fh.write(rng.randbytes(n))
    return path


def rewrite_footer(path, both: bool = False, **changes):
    """Edit trailing footer fields (and the copy at 0 for dynamic disks when ``both``)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.seek(size - 512)
        footer = parse_footer(fh.read(512)).replace(**changes)
        raw = build_footer(footer)
        fh.seek(size - 512)
        fh.write(raw)
        if both:
            fh.seek(0)
            fh.write(raw)
    return footer


def read_header(path):
    with open(path, "rb") as fh:
        fh.seek(512)
        return dyn.parse_header(fh.read(1024))


def write_bat_entry(path, idx: int, value: int):
    header = read_header(path)
    with open(path, "r+b") as fh:
        fh.seek(header.table_offset + 4 * idx)
        fh.write(value.to_bytes(4, "big"))
