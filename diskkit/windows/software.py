"""What the SOFTWARE hive of an offline Windows says: version, build, edition, System Restore.

``Microsoft\\Windows NT\\CurrentVersion`` holds ProductName, EditionID, CurrentBuild (or
CurrentBuildNumber), UBR, DisplayVersion (ReleaseId before 20H2) and the major/minor
numbers. Windows 11 kept ``ProductName`` = "Windows 10 ..."; build 22000 and later is
Windows 11 (Microsoft's release information), so the name is corrected from the build.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

CURRENT_VERSION = r"Microsoft\Windows NT\CurrentVersion"
RESTORE_POLICY = r"Policies\Microsoft\Windows NT\SystemRestore"
RESTORE_SETTINGS = r"Microsoft\Windows NT\CurrentVersion\SystemRestore"
WINDOWS_11_BUILD = 22000


@dataclass(frozen=True)
class WindowsVersion:
    product_name: str | None
    edition: str | None
    build: int | None
    ubr: int | None
    display_version: str | None
    major: int | None
    minor: int | None
    installation_type: str | None

    @property
    def name(self) -> str:
        """"Windows 11 Pro 24H2 (build 26100.1742)" as far as the hive says it."""
        product = self.product_name or "Windows"
        if self.build and self.build >= WINDOWS_11_BUILD and product.startswith("Windows 10"):
            product = "Windows 11" + product[len("Windows 10"):]
        build = f"build {self.build}" + (f".{self.ubr}" if self.ubr is not None else "") \
            if self.build else "build unknown"
        return f"{product}" + (f" {self.display_version}" if self.display_version else "") \
            + f" ({build})"

    def to_dict(self) -> dict:
        return {**asdict(self), "name": self.name}


def _int(value) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _str(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class SoftwareHive:
    """Meaning of a SOFTWARE hive (a ``Hive``)."""

    def __init__(self, hive):
        self.hive = hive

    def version(self) -> WindowsVersion | None:
        key = self.hive.key(CURRENT_VERSION)
        if key is None:
            return None
        v = key.value
        return WindowsVersion(
            _str(v("ProductName")), _str(v("EditionID")),
            _int(v("CurrentBuild")) or _int(v("CurrentBuildNumber")), _int(v("UBR")),
            _str(v("DisplayVersion")) or _str(v("ReleaseId")),
            _int(v("CurrentMajorVersionNumber")), _int(v("CurrentMinorVersionNumber")),
            _str(v("InstallationType")))

    def system_restore_disabled(self) -> bool:
        """True when policy (DisableSR=1, what ``ramos script deploy`` writes) or the
        settings key turn System Restore off."""
        for path in (RESTORE_POLICY, RESTORE_SETTINGS):
            key = self.hive.key(path)
            if key is not None and key.value("DisableSR") == 1:
                return True
        return False
