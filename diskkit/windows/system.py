"""What the SYSTEM hive of an offline Windows says: control set, services, RAM-relevant settings.

Offline there is no ``CurrentControlSet``: it is ``ControlSet00N`` where N is
``Select\\Current`` (``Select\\Default`` if Current is missing). A service is
``Services\\<name>`` with ``Start`` (0 boot, 1 system, 2 automatic, 3 manual, 4 disabled),
``Type``, ``ImagePath``, ``Group``; Windows 10 and later may hold a ``StartOverride`` subkey
whose values replace Start at boot, so the effective start type takes it into account.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CorruptImage

START_NAMES = {0: "boot", 1: "system", 2: "automatic", 3: "manual", 4: "disabled"}
SERVICE_BOOT_START = 0
SERVICE_DISABLED = 4
MEMORY_MANAGEMENT = r"Control\Session Manager\Memory Management"
POWER = r"Control\Power"
ENVIRONMENT = r"Control\Session Manager\Environment"


@dataclass(frozen=True)
class Service:
    name: str
    start: int | None
    start_override: int | None  # from the StartOverride subkey, when present
    type: int | None
    image_path: str | None
    group: str | None

    @property
    def effective_start(self) -> int | None:
        return self.start_override if self.start_override is not None else self.start

    @property
    def start_name(self) -> str:
        start = self.effective_start
        return START_NAMES.get(start, "not set" if start is None else str(start))

    @property
    def boot_start(self) -> bool:
        return self.effective_start == SERVICE_BOOT_START

    def to_dict(self) -> dict:
        return {"name": self.name, "start": self.start, "start_override": self.start_override,
                "effective_start": self.start_name, "type": self.type,
                "image_path": self.image_path, "group": self.group}


def _int(value) -> int | None:
    return value if isinstance(value, int) else None


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


class SystemHive:
    """Meaning of a SYSTEM hive (a ``Hive``)."""

    def __init__(self, hive):
        self.hive = hive
        select = hive.key("Select")
        number = None
        if select is not None:
            number = _int(select.value("Current")) or _int(select.value("Default"))
        self.control_set_number = number or 1
        self.control_set = f"ControlSet{self.control_set_number:03d}"
        self._root = hive.key(self.control_set)
        if self._root is None:
            raise CorruptImage(f"{hive.name}: no {self.control_set} (Select\\Current = "
                               f"{number}): not a SYSTEM hive, or a damaged one")
        self._services = None

    def key(self, path: str):
        """A key under the current control set (``Services\\svbus``), or None."""
        return self.hive.key(f"{self.control_set}\\{path}")

    def services(self) -> dict[str, Service]:
        """Every service by upper-case name, read once."""
        if self._services is None:
            root = self.key("Services")
            self._services = {k.name.upper(): _service(k) for k in (root.subkeys() if root else ())}
        return self._services

    def service(self, name: str) -> Service | None:
        return self.services().get(name.upper())

    def find_services(self, image_name: str) -> list[Service]:
        """Services whose ImagePath ends in ``image_name`` (a driver's .sys file)."""
        want = image_name.lower().replace("/", "\\").rsplit("\\", 1)[-1]
        return [s for s in self.services().values()
                if s.image_path and s.image_path.lower().rsplit("\\", 1)[-1] == want]

    def paging_files(self) -> list[str] | None:
        """PagingFiles (empty: no pagefile); None when the value is missing."""
        key = self.key(MEMORY_MANAGEMENT)
        value = key.value("PagingFiles") if key else None
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        return [v for v in value if isinstance(v, str) and v.strip()]

    def hibernate_enabled(self) -> bool | None:
        key = self.key(POWER)
        value = _int(key.value("HibernateEnabled")) if key else None
        if value is None and key is not None:
            value = _int(key.value("HibernateEnabledDefault"))
        return None if value is None else bool(value)

    def architecture(self) -> str | None:
        """PROCESSOR_ARCHITECTURE: AMD64, x86, ARM64."""
        key = self.key(ENVIRONMENT)
        return _str(key.value("PROCESSOR_ARCHITECTURE")) if key else None


def _service(key) -> Service:
    override = key.child("StartOverride")
    override_start = None
    if override is not None:
        starts = [v.data for v in override.values().values() if isinstance(v.data, int)]
        override_start = min(starts) if starts else None
    image = key.value("ImagePath")
    return Service(key.name, _int(key.value("Start")), override_start, _int(key.value("Type")),
                   image if isinstance(image, str) else None, _str(key.value("Group")))
