"""structs.Layout and Record: one declaration parses, builds and refuses what does not fit.

The formats' own round trips (VHD footer and header, GPT, MBR) are property tests in
test_vhd_props.py and test_part_props.py; these pin the declaration's rules.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from diskkit.errors import CorruptImage
from diskkit.structs import Const, Layout, Record

ITEM = Layout(">", ("kind", "B", 7), ("offset", "Q", 0))


class Item(Record, layout=ITEM):
    pass


THING = Layout(
    ">",
    ("magic", Const(b"THNG")),
    ("size", "I"),
    ("name", "8s", b"unnamed\0"),
    ("items", ITEM, 3),
)


class Thing(Record, layout=THING):
    @property
    def double(self) -> int:
        return 2 * self.size


def test_bytes_are_exactly_the_declared_fields():
    thing = Thing(size=5, items=(Item(kind=1, offset=2), Item(), Item(offset=9)))
    raw = thing.build()
    assert THING.size == len(raw) == 4 + 4 + 8 + 3 * 9
    assert raw == struct.pack(">4sI8sBQBQBQ", b"THNG", 5, b"unnamed\0", 1, 2, 7, 0, 7, 9)
    assert Thing.parse(raw) == thing and Thing.parse(b"xx" + raw, 2) == thing
    assert THING.parse(raw) == {"size": 5, "name": b"unnamed\0", "items": [
        {"kind": 1, "offset": 2}, {"kind": 7, "offset": 0}, {"kind": 7, "offset": 9}]}
    assert THING.build(THING.parse(raw)) == raw and thing.as_dict() == THING.parse(raw)
    assert thing.double == 10 and thing.replace(size=6).size == 6 and thing.size == 5


@given(st.integers(0, 2**32 - 1), st.binary(min_size=8, max_size=8),
       st.lists(st.tuples(st.integers(0, 255), st.integers(0, 2**64 - 1)), min_size=3,
                max_size=3))
def test_round_trip(size, name, items):
    thing = Thing(size=size, name=name, items=tuple(Item(kind=k, offset=o) for k, o in items))
    assert Thing.parse(thing.build()) == thing
    assert hash(Thing.parse(thing.build())) == hash(thing)


def test_what_does_not_fit_is_refused():
    raw = Thing(size=1).build()
    with pytest.raises(CorruptImage, match="magic"):
        Thing.parse(b"XXXX" + raw[4:])
    with pytest.raises(ValueError, match="name: 3 bytes"):
        Thing(size=1, name=b"abc").build()
    with pytest.raises(ValueError, match="items: 2 items"):
        THING.build({"size": 1, "items": [{}, {}]})
    with pytest.raises(KeyError, match="size"):
        THING.build({})
    with pytest.raises(TypeError, match="missing field 'size'"):
        Thing()
    with pytest.raises(TypeError, match="no field 'colour'"):
        Thing(size=1, colour=2)
    with pytest.raises(AttributeError, match="frozen"):
        Thing(size=1).size = 2
    with pytest.raises(struct.error):
        THING.parse(raw[:-1])
    with pytest.raises(ValueError, match="inside"):
        Layout("<", ("items", ITEM, 2))
