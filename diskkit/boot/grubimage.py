"""Build a GRUB EFI binary from the system's GRUB modules (``grub-mkimage``).

The binary looks for ``grub.cfg`` under ``prefix`` on the partition it was loaded from, so a
loader placed at ``\\EFI\\ramos\\grubx64.efi`` gets prefix ``/EFI/ramos`` and its config beside
it. Which modules go in is the chain's business (``chains.CHAINS[..].grub_modules``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from ..errors import DiskkitError, NotFound, Unsupported
from ..fileio import atomic_output
from .chains import get_chain

MODULE_DIRS = ("/usr/lib/grub/x86_64-efi", "/usr/share/grub2/x86_64-efi",
               "/usr/lib/grub2/x86_64-efi")


def find_module_dir(directory: str | None = None) -> str:
    for candidate in ([directory] if directory else MODULE_DIRS):
        if os.path.isfile(os.path.join(candidate, "normal.mod")):
            return candidate
    raise NotFound("no GRUB x86_64-efi modules found "
                   f"({directory or ', '.join(MODULE_DIRS)}); install grub-efi-amd64-bin")


def grub_version() -> tuple[int, ...] | None:
    """The installed grub-mkimage's version, e.g. (2, 6), or None if it does not say."""
    out = subprocess.run(["grub-mkimage", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)\.(\d+)", out)
    return tuple(int(x) for x in match.groups()) if match else None


def modules_for(chain_name: str) -> tuple[str, ...]:
    chain = get_chain(chain_name)
    if chain.grub_modules is None:
        raise Unsupported(f"the {chain.name} chain does not use GRUB; --grub-mkimage builds "
                          "only GRUB loaders (grub2-map, ntloader, loopback-test)")
    return chain.grub_modules


def build(out: str, prefix: str, chain_name: str = "ntloader",
          module_dir: str | None = None, force: bool = True) -> list[str]:
    """Write a GRUB x86_64-efi binary to ``out``; return warnings for the caller to show."""
    if shutil.which("grub-mkimage") is None:
        raise NotFound("grub-mkimage: not found on PATH (install grub-common)")
    directory = find_module_dir(module_dir)
    modules = modules_for(chain_name)
    missing = [m for m in modules if not os.path.isfile(os.path.join(directory, m + ".mod"))]
    chain = get_chain(chain_name)
    if missing:
        hint = f": the {chain.name} chain needs {chain.needs_fork}" if chain.needs_fork else ""
        raise NotFound(f"GRUB modules missing in {directory}: {', '.join(missing)}{hint}")
    warnings = []
    version = grub_version()
    if chain.name == "ntloader" and version and version < (2, 12):
        warnings.append(f"grub-mkimage is GRUB {version[0]}.{version[1]:02d}; ntloader "
                        "needs GRUB >= 2.12 to start")
    with atomic_output(out, force) as tmp:
        proc = subprocess.run(["grub-mkimage", "-O", "x86_64-efi", "-d", directory, "-p", prefix,
                               "-o", tmp, *modules], capture_output=True, text=True)
        if proc.returncode != 0:
            raise DiskkitError(f"grub-mkimage failed: {proc.stderr.strip()}")
    return warnings
