"""Build a chain's GRUB EFI binary with ``grub-mkimage`` from any GRUB's module directory.

A module directory (``/usr/lib/grub/x86_64-efi``, or another GRUB's unpacked beside it) says
everything the build needs: the ``*.mod`` files are the modules there are, ``moddep.lst`` what
each one pulls in (grub-mkimage reads it too), and ``modinfo.sh`` — written by GRUB's own
configure — the version (``grub_version="2.12"``). A directory with the a1ive fork's ``map``
module is that fork. Debian 12's ``grub-mkimage -d DIR`` builds working images from GRUB 2.12's
and the fork's directories, so the version that matters is the directory's, never the binary's.

Every name the chain needs is checked (with what it depends on) before anything is written;
the image's prefix is the loader's own folder, so it reads the config beside itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ..errors import DiskkitError, NotFound, Unsupported, UsageError
from ..fileio import atomic_output
from .chains import (GRUB_CHAINS, Chain, format_version, get_chain, grub_flavour,
                     parse_version)

MODULE_DIRS = ("/usr/lib/grub/x86_64-efi", "/usr/share/grub2/x86_64-efi",
               "/usr/lib/grub2/x86_64-efi")
@dataclass(frozen=True)
class ModuleDir:
    """What one GRUB x86_64-efi module directory holds."""

    path: str
    version: tuple[int, int] | None       # from modinfo.sh; None when it does not say
    modules: frozenset[str]
    depends: dict[str, tuple[str, ...]] = field(repr=False)

    @property
    def flavour(self) -> str | None:
        return grub_flavour(self.version, self.modules)

    @property
    def description(self) -> str:
        fork = "a1ive's GRUB2 fork" if "map" in self.modules else "GNU GRUB"
        version = format_version(self.version) if self.version else "version unknown"
        return f"{fork} {version} ({self.path})"

    def missing(self, names) -> list[str]:
        """The names (and the modules they depend on) that are not in this directory."""
        missing, seen, todo = [], set(), list(names)
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.add(name)
            if name not in self.modules:
                missing.append(name)
            todo.extend(self.depends.get(name, ()))
        return missing


def read_module_dir(directory: str | None = None) -> ModuleDir:
    """Read ``directory`` (default: this system's GRUB x86_64-efi modules)."""
    candidates = [directory] if directory else list(MODULE_DIRS)
    for path in candidates:
        if os.path.isfile(os.path.join(path, "moddep.lst")):
            break
    else:
        if directory:
            if not os.path.isdir(directory):
                raise NotFound(f"--grub-modules {directory}: no such directory")
            raise NotFound(f"--grub-modules {directory}: not a GRUB module directory (no "
                           "moddep.lst; give the x86_64-efi folder, e.g. /usr/lib/grub/x86_64-efi)")
        raise NotFound("no GRUB x86_64-efi modules found (" + ", ".join(MODULE_DIRS)
                       + "); install grub-efi-amd64-bin or give --grub-modules DIR")
    try:
        names = os.listdir(path)
        with open(os.path.join(path, "moddep.lst"), encoding="utf-8", errors="replace") as fh:
            deps = _parse_moddep(fh.read())
    except OSError as exc:
        raise DiskkitError(f"{path}: {exc.strerror or exc}") from None
    modules = frozenset(n[:-4] for n in names if n.endswith(".mod"))
    return ModuleDir(path, _modinfo_version(path), modules, deps)


def _parse_moddep(text: str) -> dict[str, tuple[str, ...]]:
    deps = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if sep and name.strip():
            deps[name.strip()] = tuple(rest.split())
    return deps


def _modinfo_version(path: str) -> tuple[int, int] | None:
    try:
        with open(os.path.join(path, "modinfo.sh"), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    match = re.search(r'^grub_version="?([^"\n]+)"?', text, re.M)
    try:
        return parse_version(match.group(1)) if match else None
    except UsageError:
        return None


def modules_for(chain: Chain, moddir: ModuleDir,
                version: tuple[int, int] | None = None) -> tuple[str, ...]:
    """The chain's module list for the GRUB in ``moddir``; refuse a GRUB it cannot use."""
    if not chain.is_grub:
        raise Unsupported(f"the {chain.name} chain does not use GRUB; --grub-mkimage builds "
                          "only GRUB loaders (" + ", ".join(GRUB_CHAINS) + ")")
    version = version or moddir.version
    flavour = grub_flavour(version, moddir.modules)
    if flavour is None and version is None:
        raise UsageError(f"{moddir.path}: its modinfo.sh does not give GRUB's version; "
                         "say it with --grub-version (e.g. 2.12)")
    if flavour not in chain.grub_modules:
        held = moddir.description if version == moddir.version else \
            f"GRUB {format_version(version)} ({moddir.path})"
        raise Unsupported(f"the {chain.name} chain needs {chain.grub_needs}; the modules given "
                          f"are {held}")
    return chain.grub_modules[flavour]


@dataclass(frozen=True)
class BuiltImage:
    path: str
    prefix: str
    moddir: ModuleDir
    version: tuple[int, int] | None
    flavour: str
    modules: tuple[str, ...]


def check(chain_name: str, module_dir: str | None = None,
          version: tuple[int, int] | None = None) -> tuple[ModuleDir, tuple[str, ...]]:
    """Everything ``build`` checks, without writing: the directory, the flavour, the names."""
    if shutil.which("grub-mkimage") is None:
        raise NotFound("grub-mkimage: not found on PATH (install grub-common)")
    chain = get_chain(chain_name)
    moddir = read_module_dir(module_dir)
    modules = modules_for(chain, moddir, version)
    missing = moddir.missing(modules)
    if missing:
        raise NotFound(f"GRUB modules missing in {moddir.path}: {', '.join(missing)} "
                       f"(the {chain.name} chain's GRUB needs them; nothing was written)")
    return moddir, modules


def build(out: str, prefix: str, chain_name: str = "ntloader", module_dir: str | None = None,
          version: tuple[int, int] | None = None, force: bool = True) -> BuiltImage:
    """Write the chain's GRUB x86_64-efi binary to ``out``, reading its config from ``prefix``."""
    moddir, modules = check(chain_name, module_dir, version)
    version = version or moddir.version
    with atomic_output(out, force) as tmp:
        proc = subprocess.run(["grub-mkimage", "-O", "x86_64-efi", "-d", moddir.path,
                               "-p", prefix, "-o", tmp, *modules],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise DiskkitError(f"grub-mkimage failed: {proc.stderr.strip()}")
    return BuiltImage(out, prefix, moddir, version, grub_flavour(version, moddir.modules),
                      modules)
