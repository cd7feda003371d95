"""One declaration per on-disk structure.

A structure is declared once, as a construct ``Struct`` whose fields carry their build
defaults (``Default``) and fixed values (``Const``). ``record`` turns that declaration into a
frozen dataclass with the same fields, so code reads ``footer.current_size`` and builds with
``replace(footer, ...)`` without a second, hand-kept list of fields::

    class Footer(record(FOOTER_STRUCT)):
        @property
        def chs_size(self): ...
"""

from __future__ import annotations

import dataclasses

from construct import Array, Const, Default, Struct


def _default(subcon):
    """The dataclass default of a field: its ``Default`` value, a record, or required."""
    if isinstance(subcon, Default):
        return subcon.value
    if isinstance(subcon, Array) and isinstance(subcon.subcon, Struct):
        item = record(subcon.subcon)
        return tuple(item() for _ in range(subcon.count))
    return dataclasses.MISSING


def record(struct: Struct, name: str = "Record"):
    """A frozen, keyword-only dataclass with ``struct``'s named, non-constant fields.

    ``parse(data)`` and ``build()`` go through ``struct``; arrays of sub-structures become
    tuples of their own records (named by calling ``record`` on them first). Subclass it to
    add properties and methods.
    """
    cached = getattr(struct, "_record", None)
    if cached is not None:
        return cached
    fields, nested = [], {}
    for sub in struct.subcons:
        inner = sub.subcon
        if sub.name is None or isinstance(inner, Const):
            continue
        default = _default(inner)
        if isinstance(inner, Array) and isinstance(inner.subcon, Struct):
            nested[sub.name] = record(inner.subcon)
        if default is dataclasses.MISSING:
            fields.append((sub.name, object))
        elif isinstance(default, (bytes, int, str, tuple)) or default is None:
            fields.append((sub.name, object, dataclasses.field(default=default)))
        else:
            fields.append((sub.name, object, dataclasses.field(default_factory=lambda d=default: d)))

    def parse(cls, data: bytes):
        return cls._from(struct.parse(data))

    def _from(cls, values):
        kw = {}
        for field in dataclasses.fields(cls):
            value = values[field.name]
            if field.name in nested:
                value = tuple(nested[field.name]._from(v) for v in value)
            kw[field.name] = value
        return cls(**kw)

    def as_dict(self) -> dict:
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = [v.as_dict() for v in value] if field.name in nested else value
        return out

    def build(self) -> bytes:
        return struct.build(self.as_dict())

    namespace = {"parse": classmethod(parse), "_from": classmethod(_from),
                 "as_dict": as_dict, "build": build, "STRUCT": struct, "SIZE": struct.sizeof()}
    cls = dataclasses.make_dataclass(name, fields, namespace=namespace, frozen=True,
                                     kw_only=True)
    struct._record = cls
    return cls
