"""diskkit.testing: what the strategies build is what independent tools see, and every kind of
damage is reported by the tools its description names."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from support.synth import assert_accepted, reported_by

from diskkit import testing
from diskkit.synth import DAMAGE_KINDS, describe, make

ORACLE_RUNS = settings(max_examples=15, deadline=None,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@ORACLE_RUNS
@given(img=testing.images())
def test_every_image_is_what_its_description_says(img):
    with tempfile.TemporaryDirectory() as work:
        assert_accepted(img.path, img.description, work)


@ORACLE_RUNS
@given(img=testing.images(table=["gpt", "mbr"], fs=["fat12", "fat16", "fat32"],
                          sector_size=[512, 4096]))
def test_partitioned_volumes_are_what_their_descriptions_say(img):
    with tempfile.TemporaryDirectory() as work:
        assert_accepted(img.path, img.description, work)


@ORACLE_RUNS
@given(img=testing.damaged_images())
def test_damage_is_reported_by_the_tools_named(img):
    damage = img.description.damage[-1]
    assert damage.detected_by
    with tempfile.TemporaryDirectory() as work:
        for tool in damage.detected_by:
            assert reported_by(tool, img.path, img.description, work), (tool, damage)


@pytest.mark.parametrize("kind, sector_size", [(kind, ss) for kind in DAMAGE_KINDS
                                                for ss in (512, 4096)
                                                if ss == 512 or not kind.startswith("vhd-")])
def test_each_damage_kind_is_reported(kind, sector_size, tmp_path):
    """Every kind at least once, whatever hypothesis draws above (seeded, so reproducible)."""
    img = make(describe(20, damage=kind, sector_size=sector_size), tmp_path / "damaged.img")
    damage = img.description.damage[-1]
    assert damage.kind == kind and damage.expect
    for tool in damage.detected_by:
        assert reported_by(tool, img.path, img.description, tmp_path), (tool, damage)
