"""One declaration per on-disk structure.

A structure is declared once, as a ``Layout``: its fields in disk order, each a name and a
``struct`` code, with the value a build uses when none is given (``("features", "I", 2)``),
a fixed value checked on parse (``("cookie", Const(b"conectix"))``) or an array of a smaller
layout (``("entries", ENTRY, 4)``). ``parse`` gives a dict by field name and ``build`` takes
one. Plain ``struct`` underneath: construct's import alone cost more CPU than a whole ``vhd
info``, and a metadata command only needs fixed layouts of integers and byte strings.

A ``Record`` subclass turns a layout into frozen, keyword-built values that read
``footer.current_size`` and change with ``footer.replace(...)``, without a second, hand-kept
list of fields::

    class Footer(Record, layout=FOOTER):
        @property
        def chs_size(self): ...
"""

from __future__ import annotations

import struct

from .errors import CorruptImage

_REQUIRED = object()


class Const:
    """A field whose bytes are fixed (a signature): built as is, checked when parsed, and not
    a field of the parsed values."""

    def __init__(self, value: bytes):
        self.value = value


class Layout:
    """An on-disk structure: ``byte_order`` (``<`` or ``>``) and its fields in disk order.

    A field is ``(name, code)`` (required when building), ``(name, code, default)``,
    ``(name, Const(b"..."))`` or ``(name, layout, count)`` (an array of a smaller layout of
    the same byte order, parsed to a list of dicts). The structure is packed: no alignment.
    """

    def __init__(self, byte_order: str, *fields: tuple):
        self.byte_order = byte_order
        self.fields = []  # (name, code or Const or Layout, default or count)
        codes = []
        for name, kind, *extra in fields:
            if isinstance(kind, Layout):
                if kind.byte_order != byte_order:
                    raise ValueError(f"{name}: a {kind.byte_order!r} layout inside a "
                                     f"{byte_order!r} one")
                (count,) = extra
                codes.append(kind.codes * count)
                self.fields.append((name, kind, count))
            elif isinstance(kind, Const):
                codes.append(f"{len(kind.value)}s")
                self.fields.append((name, kind, None))
            else:
                codes.append(kind)
                self.fields.append((name, kind, extra[0] if extra else _REQUIRED))
        # the names parse gives, in disk order (a Const is checked, not given)
        self.names = tuple(name for name, kind, _ in self.fields if not isinstance(kind, Const))
        self.codes = "".join(codes)
        self.struct = struct.Struct(byte_order + self.codes)
        self.size = self.struct.size
        self._lengths = {name: int(kind[:-1] or 1) for name, kind, _ in self.fields
                         if isinstance(kind, str) and kind.endswith("s")}
        self.record: type[Record] | None = None  # the Record class declared on it, if any

    def parse(self, data, offset: int = 0) -> dict:
        """``size`` bytes of ``data`` at ``offset`` -> the values by field name.

        Raises CorruptImage when a ``Const`` field does not hold its bytes."""
        values, _ = self._take(self.struct.unpack_from(data, offset), 0)
        return values

    def _take(self, values: tuple, at: int) -> tuple[dict, int]:
        out = {}
        for name, kind, extra in self.fields:
            if isinstance(kind, Layout):
                out[name] = items = []
                for _ in range(extra):
                    item, at = kind._take(values, at)
                    items.append(item)
                continue
            if isinstance(kind, Const):
                if values[at] != kind.value:
                    raise CorruptImage(f"{name}: {values[at]!r} where {kind.value!r} belongs")
            else:
                out[name] = values[at]
            at += 1
        return out, at

    def build(self, fields) -> bytes:
        """The bytes of ``fields`` (a mapping by name, or a ``Record``); a field not given
        takes its default, and a required one missing raises KeyError."""
        flat: list = []
        self._flatten(fields, flat)
        return self.struct.pack(*flat)

    def _flatten(self, fields, out: list) -> None:
        if isinstance(fields, Record):
            fields = vars(fields)
        for name, kind, extra in self.fields:
            if isinstance(kind, Const):
                out.append(kind.value)
            elif isinstance(kind, Layout):
                items = fields[name] if name in fields else [{}] * extra
                if len(items) != extra:
                    raise ValueError(f"{name}: {len(items)} items where the layout has {extra}")
                for item in items:
                    kind._flatten(item, out)
            elif name in fields:
                value = fields[name]
                if name in self._lengths and len(value) != self._lengths[name]:
                    raise ValueError(f"{name}: {len(value)} bytes where the layout has "
                                     f"{self._lengths[name]}")
                out.append(value)
            elif extra is _REQUIRED:
                raise KeyError(f"{name}: a required field has no value")
            else:
                out.append(extra)


class Record:
    """Frozen values of one ``Layout`` by field name, built by keyword (fields with a default
    may be left out; arrays of a layout are tuples of that layout's records).

    Subclass with ``layout=`` to declare one, and add properties and methods.
    """

    LAYOUT: Layout
    SIZE: int

    def __init_subclass__(cls, layout: Layout | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if layout is not None:
            cls.LAYOUT, cls.SIZE = layout, layout.size
            layout.record = cls

    def __init__(self, **values):
        fields = vars(self)
        for name, kind, extra in self.LAYOUT.fields:
            if isinstance(kind, Const):
                continue
            if name in values:
                fields[name] = values.pop(name)
            elif isinstance(kind, Layout):
                fields[name] = tuple(kind.record() for _ in range(extra))
            elif extra is _REQUIRED:
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")
            else:
                fields[name] = extra
        if values:
            raise TypeError(f"{type(self).__name__}: no field {', '.join(map(repr, values))}")

    @classmethod
    def parse(cls, data, offset: int = 0):
        """The record at ``offset`` of ``data`` (see ``Layout.parse``)."""
        return cls._from(cls.LAYOUT, cls.LAYOUT.parse(data, offset))

    @staticmethod
    def _from(layout: Layout, values: dict):
        for name, kind, _ in layout.fields:
            if isinstance(kind, Layout):
                values[name] = tuple(Record._from(kind, item) for item in values[name])
        return layout.record(**values)

    def build(self) -> bytes:
        return self.LAYOUT.build(self)

    def replace(self, **changes):
        """A copy with ``changes`` applied."""
        return type(self)(**{**vars(self), **changes})

    def as_dict(self) -> dict:
        """The values by field name, arrays as lists of dicts."""
        return {name: [item.as_dict() for item in value] if isinstance(value, tuple)
                and value and isinstance(value[0], Record) else value
                for name, value in vars(self).items()}

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen: use replace({name}=...)")

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self):
        return hash(tuple(vars(self).values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({fields})"
