"""Hypothesis strategies that describe and build real disk images, for property tests.

Install with ``pip install 'diskkit[testing]'``. Each strategy draws a *description* (plain
dataclasses from ``diskkit.synth``); ``images()`` also writes it to a file. Hypothesis shrinks
the description, never the bytes, so a failing example shrinks to a small, plain image::

    from hypothesis import given
    from diskkit.testing import images

    @given(images(table="gpt", fs="fat32"))
    def test_my_tool(img):
        run_my_tool(img.path)                       # the built file
        assert listed(img.path) == img.description.volumes()[0][1].tree()

Constraints take None (any), one value, or a list of allowed values: ``container`` (raw,
fixed, dynamic, vhdx, vhdx-fixed), ``table`` (none, gpt, mbr), ``fs`` (none, fat12, fat16, fat32),
``sector_size`` (512, 4096). Images are at most ``max_size`` bytes (64 MiB) and sparse.
Under pytest the files are removed after each test (see docs/testing.md).
"""

from __future__ import annotations

from ..synth import damage as _damage
from ..synth import space
from ..synth.build import build
from ..synth.model import (Container, Damage, Description, Extent, FatVolume, File, Partition,
                           Table)
from ..synth.scratch import SyntheticImage, make
from ..synth.scratch import new_path as scratch_path
from ..synth.space import MAX_FILE_BYTES, MAX_SIZE

try:
    from hypothesis import assume
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - exercised by the venv test without hypothesis
    raise ImportError("diskkit.testing needs hypothesis: install it with "
                      "pip install 'diskkit[testing]'") from None

__all__ = ["containers", "partition_layouts", "fat_volumes", "file_trees", "descriptions",
           "images", "corruptions", "damaged_images", "DAMAGE_KINDS", "build", "make",
           "scratch_path", "with_damage", "SyntheticImage", "Description", "Container", "Table",
           "Partition", "FatVolume", "File", "Extent", "Damage"]

DAMAGE_KINDS = tuple(_damage.KINDS)
with_damage = _damage.with_damage


class HypothesisPicker:
    """The ``space`` picker backed by hypothesis draws (which is what shrinking works on)."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def choice(self, options):
        # always one draw over at least two values, even from a single option: a choice whose
        # option count changes with an earlier one (a VHD allows one sector size, a raw disk
        # two) keeps the later draws in step, so shrinking the earlier one does not shift them
        index = self.draw(st.integers(0, max(len(options), 2) - 1))
        return options[index % len(options)]

    def boolean(self):
        return self.draw(st.booleans())

    def many(self, lo, hi, item):
        return self.draw(st.lists(_drawn(item), min_size=lo, max_size=hi))


def _drawn(function, *args, **kwargs):
    """A strategy running ``function(picker, *args, **kwargs)`` on hypothesis's choices."""
    @st.composite
    def strategy(draw):
        return function(HypothesisPicker(draw), *args, **kwargs)
    return strategy()


def _checked(function, *args, **kwargs):
    """``_drawn``, after drawing once with the simplest choices so that impossible
    constraints fail here, with a clear message, not inside a test."""
    function(space.MinimalPicker(), *args, **kwargs)
    return _drawn(function, *args, **kwargs)


def containers(kind=None, max_size: int = MAX_SIZE) -> st.SearchStrategy[Container]:
    """A blank disk's container: raw, fixed or dynamic VHD (with a block size), dynamic or
    fixed VHDX (with a block size)."""
    def draw(pick):
        return space.image_container(pick, space.disk_size(pick, 512, max_size), kind,
                               pick.integer(0, 2**32 - 1))
    return _checked(draw)


def partition_layouts(table=None, sector_size=None, fs="none", max_size: int = MAX_SIZE,
                      max_partitions: int = 4, logicals: bool = True) -> st.SearchStrategy[Table]:
    """A GPT or MBR table: partition counts, sizes, alignments, holes in the numbering, types,
    names, attributes, an extended partition with logicals, 512- or 4096-byte sectors.
    ``fs`` lets partitions hold FAT volumes (default: none). Build it with ``make``."""
    def draw(pick):
        return space.partition_table(pick, table, sector_size, fs, max_size,
                                     pick.integer(0, 2**32 - 1),
                                     max_partitions=max_partitions, logicals=logicals)[0]
    return _checked(draw)


def fat_volumes(fat_type=None, sector_size: int = 512, files=None,
                max_size: int = MAX_SIZE) -> st.SearchStrategy[FatVolume]:
    """A FAT12/16/32 volume whose cluster count sits at an edge of its type's range (lowest,
    highest, one off either, or anywhere), holding a drawn tree (``files``: a count, 0 for
    none, or None for any)."""
    def draw(pick):
        return space.filled_volume(pick, fat_type, sector_size, max_size,
                                   pick.integer(0, 2**32 - 1), file_count=files)
    return _checked(draw)


def file_trees(cluster_size: int = 4096, files=None, max_dirs: int = 6, max_depth: int = 8,
               max_bytes: int = MAX_FILE_BYTES) -> st.SearchStrategy[list[File]]:
    """Directories and files: long, Unicode and 8.3-colliding names, deep chains, empty files
    and sizes one below, at and above the cluster size. (``synth.write_tree`` puts one on a
    host directory.)"""
    def draw(pick):
        return space.file_tree(pick, cluster_size, files=files, max_dirs=max_dirs,
                               max_depth=max_depth, max_bytes=max_bytes,
                               seed=pick.integer(0, 2**32 - 1))
    return _checked(draw)


def descriptions(container=None, table=None, fs=None, files=None, sector_size=None,
                 max_size: int = MAX_SIZE, max_partitions: int = 4,
                 logicals: bool = True) -> st.SearchStrategy[Description]:
    """A whole image, not yet built: container, table, filesystems, files, data."""
    return _checked(space.description, container, table, fs, files, sector_size, max_size,
                    max_partitions=max_partitions, logicals=logicals)


def images(container=None, table=None, fs=None, files=None, sector_size=None,
           max_size: int = MAX_SIZE, max_partitions: int = 4,
           logicals: bool = True) -> st.SearchStrategy[SyntheticImage]:
    """``descriptions()``, built: ``.path`` is the file, ``.description`` what is in it."""
    return descriptions(container, table, fs, files, sector_size, max_size, max_partitions,
                        logicals).map(make)


def corruptions(description: Description, kinds=None) -> st.SearchStrategy[Damage]:
    """Damage (of ``kinds``, default any) that applies to ``description``: what was broken,
    what a correct checker reports and which tools notice. Apply it with
    ``make(with_damage(description, damage))``."""
    names = _damage.applicable(description)
    if kinds is not None:
        names = [n for n in names if n in kinds]
    if not names:
        return st.nothing()
    return _drawn(_damage.draw, description, names)


def damaged_images(kinds=None, **constraints) -> st.SearchStrategy[SyntheticImage]:
    """Images with one damage of ``kinds`` applied (``description.damage`` says which).
    ``constraints`` as for ``images()``; a single kind adds what it needs."""
    if kinds is not None and isinstance(kinds, str):
        kinds = [kinds]
    if kinds is not None and len(kinds) == 1:
        constraints = _damage.constraints_for(kinds[0], constraints)

    @st.composite
    def strategy(draw):
        desc = draw(descriptions(**constraints))
        names = [n for n in _damage.applicable(desc) if kinds is None or n in kinds]
        assume(names)
        return make(with_damage(desc, draw(_drawn(_damage.draw, desc, names))))
    return strategy()
