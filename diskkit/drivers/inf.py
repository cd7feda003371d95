"""Windows driver INF files: decoding, sections, string substitution, models and services.

Pure: bytes in, an ``InfFile`` out. Follows Microsoft's "General syntax rules for INF files":
sections in brackets, ``;`` comments outside quotes, a trailing ``\\`` joins lines, ``"..."``
quotes (``""`` is a literal quote), ``%key%`` tokens looked up in ``[Strings]`` or a localized
``[Strings.LLLL]`` section, ``%%`` a literal percent sign. Tolerant like Windows itself: lines
it cannot read are skipped, never fatal; only data that is not text at all is refused.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

from ..errors import CorruptImage

MAX_INF_BYTES = 16 * 1024 * 1024  # the largest real INFs are a few MiB
SERVICE_BOOT_START = 0

# Windows 10/11 x64, the systems a RAMOS image runs: decorations newer than this do not apply.
DEFAULT_TARGET = ("amd64", 10, 0, 26100)


def decode_inf(data: bytes) -> str:
    """Text of an INF: UTF-16 with BOM, UTF-8 (with or without BOM), else ANSI (cp1252)."""
    if data.startswith(b"\xff\xfe"):
        text = data[2:].decode("utf-16-le", "replace")
    elif data.startswith(b"\xfe\xff"):
        text = data[2:].decode("utf-16-be", "replace")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", "replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", "replace")  # five bytes cp1252 leaves undefined
    if "\x00" in text:
        raise CorruptImage("not an INF file: binary data (NUL characters) in the text")
    return text


@dataclass
class Line:
    """One logical line: ``key`` (None for a bare value list) and its fields, unquoted."""

    key: str | None
    fields: list[str]


def _split_fields(text: str) -> tuple[list[str], bool]:
    """Split on commas outside quotes up to a ``;`` comment; note an ``=`` after the first field.

    Quotes are removed (``""`` inside them is one quote); whitespace is trimmed only outside
    quotes. Returns the fields and whether the first one was a ``key =``.
    """
    if '"' not in text:  # the common line: plain splits, no per-character loop
        code = text.split(";", 1)[0]
        key, eq, rest = code.partition("=")
        if eq and "," not in key:
            return [key.strip()] + [f.strip() for f in rest.split(",")], True
        return [f.strip() for f in code.split(",")], False
    fields: list[str] = []
    current: list[tuple[str, bool]] = []  # (char, came from inside quotes)
    in_quotes = has_key = False
    i, n = 0, len(text)

    def finish():
        lo, hi = 0, len(current)
        while lo < hi and not current[lo][1] and current[lo][0].isspace():
            lo += 1
        while hi > lo and not current[hi - 1][1] and current[hi - 1][0].isspace():
            hi -= 1
        fields.append("".join(c for c, _ in current[lo:hi]))
        current.clear()

    while i < n:
        ch = text[i]
        if in_quotes:
            if ch != '"':
                current.append((ch, True))
            elif i + 1 < n and text[i + 1] == '"':
                current.append(('"', True))
                i += 1
            else:
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == ";":
            break
        elif ch == "," or (ch == "=" and not has_key and not fields):
            has_key = has_key or ch == "="
            finish()
        else:
            current.append((ch, False))
        i += 1
    finish()
    return fields, has_key


def _logical_lines(text: str):
    """Physical lines joined at a trailing backslash (outside quotes and comments)."""
    pending: list[str] = []  # parts of a continued line; joined once, so never quadratic
    for raw in text.splitlines():
        body = _code_part(raw).rstrip()
        if body.endswith("\\"):
            pending.append(body[:-1])
            continue
        yield "".join(pending) + raw
        pending = []
    if pending:
        yield "".join(pending)


def _code_part(line: str) -> str:
    """The line up to a ``;`` comment that is outside quotes."""
    in_quotes = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == ";" and not in_quotes:
            return line[:i]
    return line


_SECTION_RE = re.compile(r"^\s*\[([^\]]*)\]")


def parse_sections(text: str) -> tuple[dict[str, list[Line]], dict[str, str]]:
    """Sections keyed by lower-case name (repeated sections merge, as Windows does).

    Returns the sections and a map lower-case name -> name as first written.
    """
    sections: dict[str, list[Line]] = {}
    names: dict[str, str] = {}
    current: list[Line] | None = None
    for line in _logical_lines(text):
        match = _SECTION_RE.match(line)
        if match:
            name = match.group(1).strip()
            key = name.lower()
            names.setdefault(key, name)
            current = sections.setdefault(key, [])
            continue
        if current is None or not _code_part(line).strip():
            continue
        fields, has_key = _split_fields(line)
        current.append(Line(fields[0], fields[1:]) if has_key else Line(None, fields))
    return sections, names


@dataclass
class Model:
    """One device an INF installs: ``desc = install-section, hardware-id[, compatible-id...]``."""

    manufacturer: str
    description: str
    install_section: str
    hardware_id: str
    compatible_ids: list[str]
    models_section: str

    @property
    def ids(self) -> list[str]:
        return [i for i in [self.hardware_id, *self.compatible_ids] if i]


@dataclass
class Service:
    """An ``AddService`` directive and the StartType of its service-install section."""

    name: str
    install_section: str
    start_type: int | None
    service_type: int | None
    binary: str | None

    @property
    def boot_start(self) -> bool:
        return self.start_type == SERVICE_BOOT_START


@dataclass
class InfFile:
    """What diskkit needs from an INF: identity, version, devices and services (amd64)."""

    signature: str | None = None
    driver_class: str | None = None
    class_guid: str | None = None
    provider: str | None = None
    driver_date: str | None = None  # ISO yyyy-mm-dd
    driver_version: str | None = None
    catalog_file: str | None = None
    manufacturers: list[str] = field(default_factory=list)
    models_sections: list[str] = field(default_factory=list)  # the amd64 sections used
    architectures: list[str] = field(default_factory=list)  # every arch any decoration names
    models: list[Model] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)  # LLLL of each [Strings.LLLL]
    language: str | None = None  # the localized strings used, if any

    @property
    def hardware_ids(self) -> list[str]:
        """Every hardware and compatible ID the INF's amd64 models name, de-duplicated."""
        seen: dict[str, None] = {}
        for model in self.models:
            for hwid in model.ids:
                seen.setdefault(hwid.upper(), None)
        return list(seen)

    @property
    def boot_critical(self) -> bool:
        """True when a service starts with the kernel (StartType 0): storage and bus drivers."""
        return any(s.boot_start for s in self.services)

    def to_dict(self) -> dict:
        return {
            "signature": self.signature, "class": self.driver_class, "class_guid": self.class_guid,
            "provider": self.provider, "date": self.driver_date, "version": self.driver_version,
            "catalog_file": self.catalog_file, "manufacturers": self.manufacturers,
            "models_sections": self.models_sections, "architectures": self.architectures,
            "language": self.language, "boot_critical": self.boot_critical,
            "hardware_ids": self.hardware_ids,
            "models": [m.__dict__ for m in self.models],
            "services": [dict(s.__dict__, boot_start=s.boot_start) for s in self.services],
        }


class _Strings:
    """``%key%`` substitution from [Strings] overlaid by the chosen [Strings.LLLL]."""

    def __init__(self, table: dict[str, str]):
        self.table = table

    def expand(self, text: str) -> str:
        out, i, n = [], 0, len(text)
        while i < n:
            ch = text[i]
            if ch != "%":
                out.append(ch)
                i += 1
                continue
            end = text.find("%", i + 1)
            if end < 0:  # a lone percent sign stays as written
                out.append(text[i:])
                break
            token = text[i + 1:end]
            if not token:
                out.append("%")  # %% is a literal percent sign
            else:
                out.append(self.table.get(token.lower(), text[i:end + 1]))
            i = end + 1
        return "".join(out)


def _strings_table(sections, language: str | None) -> tuple[dict[str, str], list[str], str | None]:
    localized = sorted(k[len("strings."):] for k in sections if k.startswith("strings."))
    chosen = None
    if language and language.lower() in localized:
        chosen = language.lower()
    elif "strings" not in sections and localized:
        chosen = "0409" if "0409" in localized else localized[0]
    table: dict[str, str] = {}
    for name in ["strings"] + ([f"strings.{chosen}"] if chosen else []):
        for line in sections.get(name, []):
            if line.key is not None:
                # a [Strings] value is the whole text after '=', commas and all; %% is one %
                table[line.key.lower()] = ",".join(line.fields).replace("%%", "%")
    return table, localized, chosen


@dataclass(frozen=True)
class Decoration:
    """``NT[arch][.major[.minor[.product[.suite[.build]]]]]`` on a models section name."""

    text: str
    arch: str  # "" means every architecture
    version: tuple[int, int, int]  # (major, minor, build); 0 = unspecified

    @classmethod
    def parse(cls, text: str) -> "Decoration | None":
        parts = text.strip().split(".")
        head = parts[0].lower()
        if not head.startswith("nt"):
            return None
        numbers = []
        for index in (1, 2, 5):
            value = parts[index].strip() if index < len(parts) else ""
            try:
                numbers.append(int(value, 0) if value else 0)
            except ValueError:
                return None
        return cls(text.strip(), head[2:], tuple(numbers))

    def applies(self, arch: str, version: tuple[int, int, int]) -> bool:
        """64-bit Windows uses only sections decorated with its architecture; a bare ``NT``
        serves x86 (Microsoft: x64 INFs must decorate their models sections)."""
        return (self.arch == arch or (self.arch == "" and arch == "x86")) and self.version <= version


def _models_sections_for(base: str, decorations: list[str], sections, target) -> list[str]:
    """The models section Windows would use on ``target``: the most specific decoration."""
    arch, *version = target
    candidates = []
    for text in decorations:
        deco = Decoration.parse(text)
        if deco and deco.applies(arch, tuple(version)):  # the highest version not above target
            candidates.append(((deco.version, deco.arch == arch), f"{base}.{deco.text}"))
    if candidates:
        best = max(candidates)[1]
        return [best] if best.lower() in sections else []
    if not decorations and arch == "x86":  # undecorated sections serve x86 only
        return [base] if base.lower() in sections else []
    return []


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


def _version_fields(inf: InfFile, version: list[Line], expand) -> None:
    values = {line.key.lower(): [expand(f) for f in line.fields]
              for line in version if line.key is not None}
    first = {k: (v[0] if v else "") for k, v in values.items()}
    inf.signature = first.get("signature")
    inf.driver_class = first.get("class")
    inf.class_guid = first.get("classguid", "").lower() or None
    inf.provider = first.get("provider")
    for name in ("catalogfile.ntamd64", "catalogfile.nt", "catalogfile"):
        if first.get(name):
            inf.catalog_file = first[name]
            break
    driver_ver = values.get("driverver")
    if driver_ver:
        match = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*", driver_ver[0])
        if match:
            month, day, year = (int(g) for g in match.groups())
            try:
                inf.driver_date = datetime.date(year, month, day).isoformat()
            except ValueError:
                pass  # an impossible date is not invented
        if len(driver_ver) > 1 and driver_ver[1]:
            inf.driver_version = driver_ver[1]


def _install_section(name: str, sections, arch: str) -> str:
    """Windows tries ``name.NTamd64``, then ``name.NT``, then ``name`` itself."""
    for candidate in (f"{name}.nt{arch}", f"{name}.nt", name):
        if candidate.lower() in sections or f"{candidate}.services".lower() in sections:
            return candidate
    return name


def parse_inf(data: bytes, language: str | None = None, target=DEFAULT_TARGET) -> InfFile:
    """Parse INF bytes for ``target`` (arch, major, minor, build); ``language`` like ``0804``."""
    if len(data) > MAX_INF_BYTES:
        raise CorruptImage(f"not an INF file: {len(data)} bytes is larger than any driver INF")
    sections, names = parse_sections(decode_inf(data))
    table, localized, chosen = _strings_table(sections, language)
    strings = _Strings(table)

    def expand(text: str) -> str:
        return strings.expand(text)

    inf = InfFile(languages=localized, language=chosen)
    _version_fields(inf, sections.get("version", []), expand)
    arch = target[0]
    archs: set[str] = set()
    service_sections: list[str] = []
    for line in sections.get("manufacturer", []):
        fields = [expand(f) for f in line.fields]
        if not fields or not fields[0]:
            continue
        mfg = expand(line.key) if line.key is not None else fields[0]
        inf.manufacturers.append(mfg)
        decorations = [f for f in fields[1:] if f]
        for text in decorations:
            deco = Decoration.parse(text)
            if deco and deco.arch:
                archs.add(deco.arch)
        for models_name in _models_sections_for(fields[0], decorations, sections, target):
            real_name = names[models_name.lower()]
            inf.models_sections.append(real_name)
            for model in sections[models_name.lower()]:
                values = [expand(f) for f in model.fields]
                if len(values) < 2 or not values[0]:
                    continue
                desc = expand(model.key) if model.key is not None else ""
                inf.models.append(Model(mfg, desc, values[0], values[1],
                                        [v for v in values[2:] if v], real_name))
                install = _install_section(values[0], sections, arch)
                if f"{install}.services".lower() not in service_sections:
                    service_sections.append(f"{install}.services".lower())
    inf.architectures = sorted(archs)
    if not inf.manufacturers:  # class and filter INFs without devices: every Services section
        service_sections = [k for k in sections if k.endswith(".services")]
    _collect_services(inf, sections, service_sections, expand)
    return inf


def _collect_services(inf: InfFile, sections, service_sections: list[str], expand) -> None:
    seen = set()
    for name in service_sections:
        for line in sections.get(name, []):
            if line.key is None or line.key.lower() != "addservice":
                continue
            values = [expand(f) for f in line.fields]
            if len(values) < 3 or not values[0] or values[0].lower() in seen:
                continue
            seen.add(values[0].lower())
            body = {l.key.lower(): expand(l.fields[0]) if l.fields else ""
                    for l in sections.get(values[2].lower(), []) if l.key is not None}
            inf.services.append(Service(values[0], values[2], _int(body.get("starttype")),
                                        _int(body.get("servicetype")), body.get("servicebinary")))
