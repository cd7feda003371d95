"""The BCD store (Boot Configuration Data) as objects and elements, read from its hive.

A BCD store is a registry hive: ``Objects\\{GUID}\\Description`` holds the object's ``Type``
(REG_DWORD) and ``Objects\\{GUID}\\Elements\\<8 hex digits>`` one ``Element`` value per
setting. An element id packs class (bits 28-31: 1 library, 2 application, 3 device, 5 OEM),
format (bits 24-27: 1 device, 2 string, 3 object, 4 object list, 5 integer, 6 boolean,
7 integer list) and a subtype (Microsoft, "BcdElementType structure"). Strings and objects
are REG_SZ, object lists REG_MULTI_SZ, integers 8 little-endian bytes, booleans one byte,
integer lists 8 bytes each, devices the binary layout in ``bcddevice``.

Element names follow bcdedit (``device``, ``osdevice``, ``ramdiskimageoffset`` ...) from
Microsoft's BcdLibraryElementTypes, BcdBootMgrElementTypes, BcdOSLoaderElementTypes and
BcdDeviceObjectElementTypes; the same id means different settings in different objects
(0x23000003 is ``default`` in the boot manager and ``resumeobject`` in a loader), so names
are looked up by the object's application type. Unknown ids are shown by number, as
BOOTICE does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CorruptImage
from .bcddevice import DeviceElement, decode_element

MAX_OBJECTS = 10_000
MAX_ELEMENTS = 1_000

WELL_KNOWN = {
    "{9dea862c-5cdd-4e70-acc1-f32b344d4795}": "bootmgr",
    "{a5a30fa2-3d06-4e9f-b5f4-a01df9d1fcba}": "fwbootmgr",
    "{b2721d73-1db4-4c62-bf78-c548a880142d}": "memdiag",
    "{466f5a88-0af2-4f76-9038-095b170dc21c}": "ntldr",
    "{ae5534e0-a924-466c-b836-758539a3ee3a}": "ramdiskoptions",
    "{7ea2e1ac-2e61-4728-aaa3-896d9d0a9f0e}": "globalsettings",
    "{6efb52bf-1766-41db-a6b3-0ee5eff72bd7}": "bootloadersettings",
    "{1afa9c49-16ab-4a5c-901b-212802da9460}": "resumeloadersettings",
    "{4636856e-540f-4170-a130-a84776f4c654}": "dbgsettings",
    "{0ce4991b-e6b3-4b16-b23c-5e0d9250e5d9}": "emssettings",
    "{5189b25c-5558-4bf2-bca4-289b11bd29e2}": "badmemory",
    "{7ff607e0-4395-11db-b0de-0800200c9a66}": "hypervisorsettings",
}
ALIASES = {alias: guid for guid, alias in WELL_KNOWN.items()}

FORMATS = {1: "device", 2: "string", 3: "object", 4: "objectlist", 5: "integer", 6: "boolean",
           7: "integerlist"}

LIBRARY = {0x11000001: "device", 0x12000002: "path", 0x12000004: "description",
           0x12000005: "locale", 0x14000006: "inherit", 0x15000007: "truncatememory",
           0x14000008: "recoverysequence", 0x16000009: "recoveryenabled",
           0x17000011: "badmemorylist", 0x16000020: "debug", 0x12000030: "loadoptions",
           0x16000040: "advancedoptions", 0x16000041: "optionsedit",
           0x16000046: "graphicsmodedisabled", 0x16000048: "nointegritychecks",
           0x16000049: "testsigning", 0x16000054: "highestmode"}
BOOTMGR = {0x24000001: "displayorder", 0x24000002: "bootsequence", 0x23000003: "default",
           0x25000004: "timeout", 0x26000005: "resume", 0x23000006: "resumeobject",
           0x24000010: "toolsdisplayorder", 0x26000020: "displaybootmenu",
           0x26000021: "noerrordisplay", 0x21000022: "bcddevice", 0x22000023: "bcdfilepath",
           0x27000030: "customactions"}
OSLOADER = {0x21000001: "osdevice", 0x22000002: "systemroot", 0x23000003: "resumeobject",
            0x26000010: "detecthal", 0x22000011: "kernel", 0x22000012: "hal",
            0x25000020: "nx", 0x25000021: "pae", 0x26000022: "winpe",
            0x26000024: "nocrashautoreboot", 0x26000025: "lastknowngood",
            0x26000042: "novesa", 0x26000043: "novga", 0x25000080: "safeboot",
            0x26000081: "safebootalternateshell", 0x26000090: "bootlog", 0x26000091: "sos",
            0x250000c2: "bootmenupolicy"}
RESUME = {0x21000001: "filedevice", 0x22000002: "filepath"}
DEVICE_OPTIONS = {0x35000001: "ramdiskimageoffset", 0x35000002: "ramdisktftpclientport",
                  0x31000003: "ramdisksdidevice", 0x32000004: "ramdisksdipath",
                  0x35000005: "ramdiskimagelength", 0x36000006: "exportascd",
                  0x35000007: "ramdisktftpblocksize", 0x35000008: "ramdisktftpwindowsize"}

# application type (low 20 bits of an application object's type) -> (heading, element names)
APPLICATIONS = {1: ("Firmware Boot Manager", BOOTMGR), 2: ("Windows Boot Manager", BOOTMGR),
                3: ("Windows Boot Loader", OSLOADER), 4: ("Resume from Hibernate", RESUME),
                5: ("Windows Memory Tester", {}), 6: ("Windows Legacy OS Loader", {}),
                7: ("Windows Setup Loader", {}), 8: ("Real-mode Boot Sector", {}),
                9: ("Real-mode Startup Application", {}), 10: ("Boot Application", {})}
INHERIT_FOR = {3: OSLOADER, 4: RESUME}  # settings objects inherited by one application type


def element_format(element_id: int) -> str:
    return FORMATS.get((element_id >> 24) & 0xF, f"format {(element_id >> 24) & 0xF}")


def object_kind(type_code: int) -> tuple[str, dict]:
    """(heading, element names of that kind) for an object's Type."""
    top = type_code >> 28
    if top == 1:
        return APPLICATIONS.get(type_code & 0xFFFFF, (f"Application 0x{type_code:08x}", {}))
    if top == 2:
        app = type_code & 0xFFFFF
        names = INHERIT_FOR.get(app, {})
        return ("Settings" + (" for boot loaders" if app == 3 else
                              " for resume loaders" if app == 4 else ""), names)
    if top == 3:
        return "Device options", DEVICE_OPTIONS
    return f"Object type 0x{type_code:08x}", {}


@dataclass
class Element:
    id: int
    name: str
    format: str
    reg_type: str
    raw: object          # the registry value's data (bytes for binary formats)
    value: object = None  # decoded: str, int, bool, list, DeviceElement; None if undecodable
    error: str | None = None

    def to_text(self, name_of) -> str:
        if self.error:
            return f"<undecodable: {self.error}>"
        v = self.value
        if isinstance(v, DeviceElement):
            return v.to_text(name_of)
        if isinstance(v, bool):
            return "Yes" if v else "No"
        if self.format == "object":
            return name_of(v)
        if self.format == "objectlist":
            return " ".join(name_of(g) for g in v)
        if isinstance(v, list):
            return " ".join(str(x) for x in v)
        return str(v)

    def to_dict(self) -> dict:
        value = self.value.to_dict() if isinstance(self.value, DeviceElement) else self.value
        raw = self.raw.hex() if isinstance(self.raw, bytes) else self.raw
        return {"id": f"{self.id:08x}", "name": self.name, "format": self.format,
                "reg_type": self.reg_type, "value": value, "raw": raw, "error": self.error}


def _decode(element_id: int, reg_type: str, raw) -> tuple[object, str | None]:
    """The element's value by its format, or (None, why) when the data does not fit."""
    fmt = element_format(element_id)
    try:
        if fmt in ("string", "object"):
            if not isinstance(raw, str):
                return None, f"{fmt} stored as {reg_type}"
            return (raw.lower() if fmt == "object" else raw), None
        if fmt == "objectlist":
            if not isinstance(raw, list):
                return None, f"object list stored as {reg_type}"
            return [g.lower() for g in raw], None
        if not isinstance(raw, bytes):
            return None, f"{fmt} stored as {reg_type}, not binary"
        if fmt == "device":
            return decode_element(raw), None
        if fmt == "integer":
            if not 1 <= len(raw) <= 8:
                return None, f"integer of {len(raw)} bytes"
            return int.from_bytes(raw, "little"), None
        if fmt == "boolean":
            if not raw:
                return None, "empty boolean"
            return any(raw), None
        if fmt == "integerlist":
            if len(raw) % 8:
                return None, f"integer list of {len(raw)} bytes (not a multiple of 8)"
            return [int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8)], None
    except CorruptImage as exc:
        return None, str(exc)
    return None, f"unknown element format ({fmt})"


@dataclass
class BcdObject:
    guid: str  # "{...}" in lower case
    type: int
    kind: str
    elements: dict[int, Element] = field(default_factory=dict)

    @property
    def alias(self) -> str | None:
        return WELL_KNOWN.get(self.guid)

    @property
    def description(self) -> str | None:
        el = self.elements.get(0x12000004)
        return el.value if el and isinstance(el.value, str) else None

    def get(self, name: str):
        """The decoded value of the element called ``name`` (or given as hex id), else None."""
        el = self.element(name)
        return el.value if el else None

    def element(self, name: str) -> Element | None:
        for el in self.elements.values():
            if el.name == name or f"{el.id:08x}" == name.lower():
                return el
        return None

    def to_dict(self) -> dict:
        return {"guid": self.guid, "alias": self.alias, "type": f"0x{self.type:08x}",
                "kind": self.kind, "elements": [e.to_dict() for e in self.elements.values()]}


@dataclass
class BcdStore:
    name: str
    objects: dict[str, BcdObject]

    def name_of(self, guid: str) -> str:
        alias = WELL_KNOWN.get(guid.lower())
        return "{" + alias + "}" if alias else guid

    def object(self, ref: str) -> BcdObject | None:
        """An object by GUID or alias ({bootmgr} or bootmgr)."""
        ref = ref.strip().lower()
        guid = ALIASES.get(ref.strip("{}"), ref if ref.startswith("{") else "{" + ref + "}")
        return self.objects.get(guid)

    @property
    def bootmgr(self) -> BcdObject | None:
        return self.object("bootmgr")

    def default_loader(self) -> BcdObject | None:
        """The boot manager's default entry (what boots when nobody chooses)."""
        mgr = self.bootmgr
        target = mgr.get("default") if mgr else None
        return self.objects.get(target) if isinstance(target, str) else None

    def to_dict(self) -> dict:
        return {"store": self.name, "objects": [o.to_dict() for o in self.objects.values()]}

    def to_text(self) -> str:
        """bcdedit /enum all, more or less: one block per object, bootmgr first."""
        order = sorted(self.objects.values(),
                       key=lambda o: (o.alias != "bootmgr", o.alias != "fwbootmgr",
                                      o.type >> 28, o.guid))
        blocks = []
        for obj in order:
            rows = [("identifier", self.name_of(obj.guid))]
            rows += [(el.name, el.to_text(self.name_of)) for el in obj.elements.values()]
            width = max(len(k) for k, _ in rows) + 2
            blocks.append("\n".join([obj.kind, "-" * len(obj.kind),
                                     *(f"{k.ljust(max(width, 24))}{v}" for k, v in rows)]))
        return "\n\n".join(blocks) if blocks else f"{self.name}: no objects"


def _element_key_id(name: str) -> int | None:
    try:
        return int(name, 16) if len(name) == 8 else None
    except ValueError:
        return None


def read_store(hive) -> BcdStore:
    """The store in an opened ``Hive``; CorruptImage when it is not a BCD store."""
    objects_key = hive.key("Objects")
    if objects_key is None:
        raise CorruptImage(f"{hive.name}: not a BCD store (no Objects key)")
    objects: dict[str, BcdObject] = {}
    for i, okey in enumerate(objects_key.subkeys()):
        if i >= MAX_OBJECTS:
            raise CorruptImage(f"{hive.name}: more than {MAX_OBJECTS} BCD objects")
        guid = okey.name.lower()
        desc = okey.child("Description")
        type_code = desc.value("Type") if desc else None
        type_code = type_code if isinstance(type_code, int) else 0
        kind, names = object_kind(type_code)
        obj = BcdObject(guid, type_code, kind)
        elements = okey.child("Elements")
        for j, ekey in enumerate(elements.subkeys() if elements else ()):
            if j >= MAX_ELEMENTS:
                raise CorruptImage(f"{hive.name}: {guid} has more than {MAX_ELEMENTS} elements")
            eid = _element_key_id(ekey.name)
            if eid is None:
                continue  # not an element key: bcdedit writes none, so ignore it
            found = ekey.values().get("ELEMENT")
            fmt = element_format(eid)
            name = LIBRARY.get(eid) or names.get(eid) or f"{eid:08x}"
            if found is None:
                obj.elements[eid] = Element(eid, name, fmt, "-", None, error="no Element value")
                continue
            value, error = _decode(eid, found.type, found.data)
            obj.elements[eid] = Element(eid, name, fmt, found.type, found.data, value, error)
        objects[guid] = obj
    return BcdStore(hive.name, objects)


def open_store(path: str) -> BcdStore:
    """A BCD store file on the host."""
    from .hive import open_hive

    return read_store(open_hive(path))


def store_from_stream(stream, name: str) -> BcdStore:
    from .hive import hive_from_stream

    return read_store(hive_from_stream(stream, name))


__all__ = ["ALIASES", "BcdObject", "BcdStore", "Element", "WELL_KNOWN",
           "open_store", "read_store", "store_from_stream"]
