"""Synthetic disk images for tests: a description (plain dataclasses) and a builder.

``describe`` draws a ``Description`` (from a seed, or the simplest one meeting the
constraints), ``build`` writes it to a file and ``make`` does both into a scratch directory.
Nothing here needs hypothesis: the strategies in ``diskkit.testing`` drive the same drawing
code (``space``), and the ``synth`` command and the pytest fixture use it directly.
"""

from __future__ import annotations

import os

from ..errors import UsageError
from .build import build
from .damage import KINDS as DAMAGE_KINDS
from .damage import applicable, constraints_for, with_damage
from .damage import draw as draw_damage
from .model import Container, Damage, Description, Extent, FatVolume, File, Partition, Table
from .scratch import SyntheticImage, make
from .space import MinimalPicker, RandomPicker, derive_int, description

__all__ = ["describe", "build", "make", "write_tree", "with_damage", "SyntheticImage",
           "Description", "Container", "Table", "Partition", "FatVolume", "File", "Extent",
           "Damage", "DAMAGE_KINDS"]

ATTEMPTS = 100  # seeds tried for an image a requested damage applies to


def describe(seed: int | None = None, damage: str | None = None, **constraints) -> Description:
    """A description drawn from ``seed`` (None: the simplest image meeting ``constraints``),
    with ``damage`` (a kind name) applied when given.

    Constraints: ``container``, ``table``, ``fs``, ``sector_size`` (a value or a list),
    ``files`` (a count, or ``{path: bytes}``), ``max_size``, ``max_partitions``.
    """
    files = constraints.pop("files", None)
    if isinstance(files, dict):
        files = [File(path.strip("/"), size=len(data), data=bytes(data))
                 for path, data in files.items()]
    if damage is None:
        if seed is None:
            constraints.setdefault("max_size", 1 << 40)  # the simplest image is small anyway
            return description(MinimalPicker(), files=files, seed=0, **constraints)
        return description(RandomPicker(seed), files=files, seed=seed, **constraints)
    constraints = constraints_for(damage, dict(constraints, files=files))
    seed = seed or 0
    for attempt in range(ATTEMPTS):
        drawn = seed if attempt == 0 else derive_int(seed, 32, "attempt", attempt)
        desc = description(RandomPicker(drawn), seed=drawn, **constraints)
        if damage in applicable(desc):
            hit = draw_damage(RandomPicker(derive_int(drawn, 32, "damage")), desc, [damage])
            return with_damage(desc, hit)
    raise UsageError(f"none of {ATTEMPTS} images drawn from seed {seed} can take damage "
                     f"{damage}; loosen the constraints")


def write_tree(files: list[File], directory) -> None:
    """Create ``files`` (a drawn or described tree) under a host ``directory``."""
    for f in files:
        path = os.path.join(os.fspath(directory), *f.path.split("/"))
        if f.directory:
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(f.content())
