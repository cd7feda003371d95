"""GRUB module directories: version and modules read from the directory itself, every chain's
list checked against GRUB's own command.lst (2.06 from Debian 12, 2.12 from Debian 13), a
missing module refused before anything is written, the fork told apart by its map module."""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from diskkit.boot import grubimage
from diskkit.boot.chains import (A1IVE, CHAINS, GRUB_206, GRUB_212, GRUB_CHAINS, BootTarget,
                                 render)
from diskkit.errors import NotFound, Unsupported, UsageError
from support import debian, diskkit, need_tool, run
from support.boot import facts

SYSTEM = "/usr/lib/grub/x86_64-efi"


def system_dir() -> str:
    if not os.path.isfile(os.path.join(SYSTEM, "moddep.lst")):
        pytest.skip("Debian's grub-efi-amd64-bin not installed")
    return SYSTEM


def copy_dir(src: str, dest, drop=(), add=()) -> str:
    """A module directory like ``src`` (links), without ``drop`` and with ``add`` (copies of
    echo.mod under other names)."""
    os.makedirs(dest)
    for name in os.listdir(src):
        if name.endswith(".mod") and name[:-4] in drop:
            continue
        if os.path.isfile(os.path.join(src, name)):
            os.symlink(os.path.join(src, name), os.path.join(dest, name))
    for name in add:
        os.symlink(os.path.join(src, "echo.mod"), os.path.join(dest, name + ".mod"))
    return str(dest)


def modinfo_version(path: str) -> tuple[int, int]:
    text = open(os.path.join(path, "modinfo.sh")).read()
    major, minor = re.search(r'grub_version="(\d+)\.(\d+)', text).groups()
    return int(major), int(minor)


@pytest.fixture(params=["2.06", "2.12"])
def upstream(request):
    """(module directory, flavour) for Debian 12's GRUB and Debian 13's."""
    if request.param == "2.06":
        return system_dir(), GRUB_206
    return debian.grub_modules_212(), GRUB_212


def test_directory_says_version_modules_and_flavour(upstream):
    path, flavour = upstream
    moddir = grubimage.read_module_dir(path)
    assert moddir.version == modinfo_version(path)
    assert moddir.modules == {n[:-4] for n in os.listdir(path) if n.endswith(".mod")}
    assert moddir.flavour == flavour


def _commands(text: str) -> set[str]:
    words = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "}")):
            words.add(line.split()[0])
    return words - {"set"}  # a kernel built-in


@pytest.mark.parametrize("chain", [c for c in GRUB_CHAINS if A1IVE not in CHAINS[c].grub_modules])
def test_every_command_a_config_uses_is_in_the_chain_modules(upstream, chain):
    """GRUB's own command.lst says which module provides each command: every command in the
    rendered config comes from the chain's list or what it pulls in (moddep.lst)."""
    path, flavour = upstream
    moddir = grubimage.read_module_dir(path)
    providers: dict[str, set[str]] = {}
    for line in open(os.path.join(path, "command.lst")):
        name, _, module = line.strip().partition(": ")
        providers.setdefault(name.lstrip("*"), set()).add(module)
    listed = CHAINS[chain].grub_modules[flavour]
    assert moddir.missing(listed) == []
    closure, todo = set(), list(listed)
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo.extend(moddir.depends.get(name, ()))
    version = moddir.version
    text = render(chain, BootTarget.make(facts(), "/ramos/win.vhd", "t"), grub_version=version,
                  check_file="/m.txt", halt=True).text
    for command in _commands(text):
        assert providers.get(command, set()) & closure, (chain, command, providers.get(command))


def test_fork_flavour_drops_efifwsetup_and_adds_map_and_vhd(tmp_path):
    fork = copy_dir(system_dir(), tmp_path / "fork", drop=("efifwsetup",), add=("map", "vhd"))
    moddir = grubimage.read_module_dir(fork)
    assert moddir.flavour == A1IVE
    _, modules = grubimage.check("grub2-map", fork)
    assert "efifwsetup" not in modules and {"map", "vhd", "reboot"} <= set(modules)
    with pytest.raises(Unsupported, match="upstream GRUB"):
        grubimage.check("ntloader", fork)
    with pytest.raises(Unsupported, match="a1ive"):
        grubimage.check("grub2-map", system_dir())


def test_missing_module_fails_before_writing_naming_it(tmp_path):
    need_tool("grub-mkimage")
    # probe is the ntloader chain's; fshelp is pulled in by fat (moddep.lst)
    broken = copy_dir(system_dir(), tmp_path / "broken", drop=("probe", "fshelp"))
    image = str(tmp_path / "esp.img")
    run("mkfs.fat", "-C", image, str(33 * 1024))
    before = hashlib.sha256(open(image, "rb").read()).hexdigest()
    listing = sorted(os.listdir(tmp_path))
    proc = diskkit("esp", "build", image, "--grub-mkimage", "--chain", "ntloader",
                   "--grub-modules", broken, check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "probe" in proc.stderr and "fshelp" in proc.stderr and broken in proc.stderr
    assert hashlib.sha256(open(image, "rb").read()).hexdigest() == before
    assert sorted(os.listdir(tmp_path)) == listing


def test_version_from_the_directory_not_the_binary_and_asked_for_when_unknown(tmp_path):
    noinfo = copy_dir(system_dir(), tmp_path / "noinfo", drop=())
    os.unlink(os.path.join(noinfo, "modinfo.sh"))
    with pytest.raises(UsageError, match="--grub-version"):
        grubimage.check("ntloader", noinfo)
    _, modules = grubimage.check("ntloader", noinfo, version=(2, 12))
    assert "linux" in modules
    _, modules = grubimage.check("ntloader", noinfo, version=(2, 6))
    assert "linux" not in modules
    with pytest.raises(Unsupported, match="2.06 or later"):
        grubimage.check("ntloader", noinfo, version=(2, 4))
    with pytest.raises(NotFound, match="not a GRUB module directory"):
        grubimage.read_module_dir(str(tmp_path))
    with pytest.raises(NotFound, match="no such directory"):
        grubimage.read_module_dir(str(tmp_path / "nope"))


def test_cli_refuses_a_linux_form_config_for_grub_206_and_builds_it_for_212(tmp_path):
    need_tool("grub-mkimage")
    cfg = tmp_path / "lt.cfg"  # any name: installed as grub.cfg for the ntloader chain
    cfg.write_text(render("ntloader", BootTarget.make(facts(), "/r/w.vhd", "t"),
                          grub_version=(2, 12)).text)
    out = tmp_path / "esp"
    out.mkdir()
    proc = diskkit("esp", "build", out, "--grub-mkimage", "--chain", "ntloader",
                   "--config", cfg, check=False)
    assert proc.returncode == 2 and "--grub-version 2.06" in proc.stderr
    assert os.listdir(out) == []
    diskkit("esp", "build", out, "--grub-mkimage", "--chain", "ntloader", "--config", cfg,
            "--grub-modules", debian.grub_modules_212())
    assert (out / "EFI" / "ramos" / "grub.cfg").read_text() == cfg.read_text()
    assert not (out / "EFI" / "ramos" / "lt.cfg").exists()


def test_grub_212_script_check_accepts_every_grub_config(tmp_path):
    """GRUB 2.12's own grub-script-check (run from the unpacked package) on both ntloader forms
    and the other GRUB chains, with a hostile title and a path with spaces and quotes."""
    target = BootTarget.make(facts(), "/my dir/it's 100% [x].vhd", "RAM 'os' $x ; {y}")
    texts = [render(c, target, check_file="/m.txt", halt=True).text for c in GRUB_CHAINS]
    texts.append(render("ntloader", target, grub_version=(2, 6)).text)
    for i, text in enumerate(texts):
        cfg = tmp_path / f"{i}.cfg"
        cfg.write_text(text, encoding="utf-8")
        proc = debian.run_tool("grub-script-check", str(cfg))
        assert proc.returncode == 0, (text, proc.stdout, proc.stderr)
    bad = tmp_path / "bad.cfg"
    bad.write_text("menuentry 'x' {\n echo 'a\n}\n")
    assert debian.run_tool("grub-script-check", str(bad)).returncode != 0
