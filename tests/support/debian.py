"""Newer Debian packages for the boot tests, fetched with a separate apt list, never installed.

``trixie_root()`` downloads Debian 13's GRUB 2.12 (grub-efi-amd64-bin, grub-common and the C
library and libdevmapper its tools need) and the kernel of ``linux-image-amd64`` with apt-get
pointed at its own sources list, lists and cache under the test cache folder, and unpacks them
with ``dpkg-deb -x``; the system's apt sources stay untouched. Of the kernel package only
``boot/vmlinuz`` and the few modules ``kernel_modules()`` names are kept (decompressed, so
busybox's insmod loads them). The result is cached across runs
(``support.cache_dir()``); without network the test is
skipped with the reason.
"""

from __future__ import annotations

import glob
import lzma
import os
import re
import shutil
import struct
import subprocess
import tarfile

import pytest

from support import cache_dir, need_tool

SUITE = "trixie"
PACKAGES = ("grub-efi-amd64-bin", "grub-common", "libc6", "libdevmapper1.02.1")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# what the kernel-oracle tests load: the virtio PCI transport, its disk, and the NTFS driver
# (with what each depends on; those built into the kernel are skipped)
MODULES = ("virtio_pci", "virtio_blk", "ntfs3")
COMPLETE = "complete-v2"  # bumped when the unpacked set grows: older caches fetch once more


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


def _module_name(path: str) -> str:
    return os.path.basename(path).split(".ko")[0].replace("-", "_")


def _decompressed(data: bytes, path: str) -> bytes:
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".zst"):
        return subprocess.run([need_tool("zstd"), "-dc"], input=data, capture_output=True,
                              check=True).stdout
    return data


def _depends(module: bytes) -> list[str]:
    """The ``depends=`` of a kernel module's .modinfo section (what depmod reads)."""
    shoff, = struct.unpack_from("<Q", module, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", module, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", module,
                                                         shoff + index * shentsize)
        return name, offset, size

    _, names_at, _ = section(shstrndx)
    for index in range(shnum):
        name, offset, size = section(index)
        if module[names_at + name:].startswith(b".modinfo\0"):
            for field in module[offset:offset + size].split(b"\0"):
                if field.startswith(b"depends="):
                    return [d for d in field[8:].decode().split(",") if d]
    return []


def _unpack_kernel(deb: str, root: str) -> None:
    """boot/vmlinuz and MODULES with what they depend on, decompressed, into root/modules, and
    root/modules/order: their names in an order insmod can load them. (The package has no
    modules.dep, depmod writes it at installation: the dependencies come from each module's
    .modinfo, as depmod takes them.)"""
    tar_path = deb + ".tar"
    with open(tar_path, "wb") as out:
        subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], stdout=out, check=True)
    try:
        with tarfile.open(tar_path) as tar:
            members = {m.name.lstrip("./"): m for m in tar.getmembers()}
            (vmlinuz,) = [n for n in members if re.fullmatch(r"boot/vmlinuz-[^/]+", n)]
            with open(os.path.join(root, "boot", "vmlinuz"), "wb") as fh:
                fh.write(tar.extractfile(members[vmlinuz]).read())
            (builtin_list,) = [n for n in members if n.endswith("/modules.builtin")]
            builtin = {_module_name(line) for line in tar.extractfile(
                members[builtin_list]).read().decode().split()}
            paths = {_module_name(n): n for n in members if re.search(r"\.ko(\.xz|\.zst)?$", n)}
            out_dir = os.path.join(root, "modules")
            os.makedirs(out_dir, exist_ok=True)
            order: list[str] = []
            missing: list[str] = []

            def visit(name: str) -> None:
                if name in order or name in builtin:
                    return
                if name not in paths:  # kernel_modules() skips naming it
                    missing.append(name)
                    return
                data = _decompressed(tar.extractfile(members[paths[name]]).read(), paths[name])
                for need in _depends(data):
                    visit(_module_name(need))
                with open(os.path.join(out_dir, name + ".ko"), "wb") as fh:
                    fh.write(data)
                order.append(name)

            for name in MODULES:
                visit(name)
            with open(os.path.join(out_dir, "order"), "w") as fh:
                fh.write("".join(f"{name}\n" for name in order))
            with open(os.path.join(out_dir, "missing"), "w") as fh:
                fh.write("".join(f"{name}\n" for name in missing))
    finally:
        os.unlink(tar_path)


def trixie_root() -> str:
    """The unpacked packages (``usr/lib/grub/x86_64-efi``, ``usr/bin/grub-script-check``,
    ``boot/vmlinuz``, ``modules/``); downloaded once, then reused."""
    for tool in ("apt-get", "dpkg-deb"):
        need_tool(tool)
    base = os.path.join(cache_dir(), SUITE)
    root = os.path.join(base, "root")
    done = os.path.join(base, COMPLETE)
    if not os.path.exists(done):
        shutil.rmtree(root, ignore_errors=True)
        _fetch(base)
        os.makedirs(os.path.join(root, "boot"), exist_ok=True)
        for deb in sorted(glob.glob(os.path.join(base, "debs", "*.deb"))):
            if os.path.basename(deb).startswith("linux-image-"):
                _unpack_kernel(deb, root)  # not its 400 MB of modules
            else:
                subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
            os.unlink(deb)
        open(done, "w").close()
    return root


def grub_modules_212() -> str:
    return os.path.join(trixie_root(), "usr", "lib", "grub", "x86_64-efi")


def kernel() -> str:
    return os.path.join(trixie_root(), "boot", "vmlinuz")


def kernel_modules() -> list[str]:
    """The kernel's modules the kernel-oracle tests load (``MODULES`` and what they depend
    on), as decompressed ``.ko`` paths in an order insmod can load them."""
    folder = os.path.join(trixie_root(), "modules")
    with open(os.path.join(folder, "missing")) as fh:
        missing = fh.read().split()
    if missing:
        pytest.skip(f"Debian {SUITE}'s kernel package has no module {', '.join(missing)}")
    with open(os.path.join(folder, "order")) as fh:
        return [os.path.join(folder, name + ".ko") for name in fh.read().split()]


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run one of the unpacked GRUB 2.12 tools through trixie's own loader and libraries."""
    root = trixie_root()
    libs = ":".join([os.path.join(root, "usr/lib/x86_64-linux-gnu"),
                     os.path.join(root, "lib/x86_64-linux-gnu"), "/lib/x86_64-linux-gnu",
                     "/usr/lib/x86_64-linux-gnu"])
    loader = os.path.join(root, "usr/lib64/ld-linux-x86-64.so.2")
    return subprocess.run([loader, "--library-path", libs, os.path.join(root, "usr/bin", name),
                           *args], capture_output=True, text=True)
