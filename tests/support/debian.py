"""Newer Debian packages for the boot tests, fetched with a separate apt list, never installed.

``trixie_root()`` downloads Debian 13's GRUB 2.12 (grub-efi-amd64-bin, grub-common and the C
library and libdevmapper its tools need) and the kernel of ``linux-image-amd64`` with apt-get
pointed at its own sources list, lists and cache under the test cache folder, and unpacks them
with ``dpkg-deb -x``; the system's apt sources stay untouched. The result is cached across runs
(``support.cache_dir()``); without network the test is
skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest

from support import cache_dir, need_tool

SUITE = "trixie"
PACKAGES = ("grub-efi-amd64-bin", "grub-common", "libc6", "libdevmapper1.02.1")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def _apt(base: str, *args: str) -> subprocess.CompletedProcess:
    opts = [f"-o=Dir::Etc::sourcelist={base}/sources.list", "-o=Dir::Etc::sourceparts=-",
            f"-o=Dir::State::Lists={base}/lists", f"-o=Dir::Cache={base}/cache",
            "-o=APT::Sandbox::User=root", "-qq"]
    return subprocess.run([args[0], *opts, *args[1:]], capture_output=True, text=True,
                          cwd=os.path.join(base, "debs"), timeout=600)


def _fetch(base: str) -> None:
    for sub in ("lists/partial", "cache/archives/partial", "debs"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    with open(os.path.join(base, "sources.list"), "w") as fh:
        fh.write(f"deb [signed-by={KEYRING}] http://deb.debian.org/debian {SUITE} main\n")
    proc = _apt(base, "apt-get", "update")
    if proc.returncode != 0:
        pytest.skip(f"Debian {SUITE} packages unavailable (no network?): {proc.stderr.strip()[:200]}")
    kernel = _apt(base, "apt-cache", "depends", "linux-image-amd64").stdout
    image = next((line.split(":", 1)[1].strip() for line in kernel.splitlines()
                  if line.strip().startswith("Depends: linux-image-")), None)
    if image is None:
        pytest.skip(f"Debian {SUITE}: linux-image-amd64 names no kernel package")
    proc = _apt(base, "apt-get", "download", *PACKAGES, image)
    if proc.returncode != 0:
        pytest.skip(f"Debian {SUITE} download failed: {proc.stderr.strip()[:200]}")


def trixie_root() -> str:
    """The unpacked packages (``usr/lib/grub/x86_64-efi``, ``usr/bin/grub-script-check``,
    ``boot/vmlinuz``); downloaded once, then reused."""
    for tool in ("apt-get", "dpkg-deb"):
        need_tool(tool)
    base = os.path.join(cache_dir(), SUITE)
    root = os.path.join(base, "root")
    done = os.path.join(base, "complete")
    if not os.path.exists(done):
        shutil.rmtree(root, ignore_errors=True)
        _fetch(base)
        os.makedirs(os.path.join(root, "boot"), exist_ok=True)
        for deb in sorted(glob.glob(os.path.join(base, "debs", "*.deb"))):
            if os.path.basename(deb).startswith("linux-image-"):
                # only the kernel itself, not its 400 MB of modules
                tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True,
                                     check=True).stdout
                subprocess.run(["tar", "-x", "-C", root, "--wildcards", "./boot/vmlinuz-*"],
                               input=tar, check=True)
            else:
                subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
            os.unlink(deb)
        (kernel,) = glob.glob(os.path.join(root, "boot", "vmlinuz-*"))
        os.replace(kernel, os.path.join(root, "boot", "vmlinuz"))
        open(done, "w").close()
    return root


def grub_modules_212() -> str:
    return os.path.join(trixie_root(), "usr", "lib", "grub", "x86_64-efi")


def kernel() -> str:
    return os.path.join(trixie_root(), "boot", "vmlinuz")


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run one of the unpacked GRUB 2.12 tools through trixie's own loader and libraries."""
    root = trixie_root()
    libs = ":".join([os.path.join(root, "usr/lib/x86_64-linux-gnu"),
                     os.path.join(root, "lib/x86_64-linux-gnu"), "/lib/x86_64-linux-gnu",
                     "/usr/lib/x86_64-linux-gnu"])
    loader = os.path.join(root, "usr/lib64/ld-linux-x86-64.so.2")
    return subprocess.run([loader, "--library-path", libs, os.path.join(root, "usr/bin", name),
                           *args], capture_output=True, text=True)
