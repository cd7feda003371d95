"""Every modifying command, SIGKILLed at many of its write points (DISKKIT_KILL_AFTER_WRITES).

For each scenario: count the command's write points (crash_point calls) with one counted run,
then kill fresh copies of the input at points spread over that range. Afterwards the target
must hold exactly the old or the new logical content (judged by oracles: qemu-img, sfdisk,
mtools) and pass its check; a new output file either does not exist or is complete.

The number of kill points per command is ``DISKKIT_INTERRUPT_POINTS`` (default 12, spread
from the first write to the last); set it to ``all`` to kill at every single write.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from support import ENV, WORKERS, assert_command, run as run_tool
from support.boot import efi_stub
from support.samples import (MiB, disk_content, fat_image, fat_tree, fixed_vhd_source, gpt_image,
                             mbr_image, sha, table_state, vhd_fat_tree, vhd_source)
POINTS = os.environ.get("DISKKIT_INTERRUPT_POINTS", "12")

# Runs the CLI with crash_point replaced by a counter; also records which diskkit source line
# opened each host file for writing (to find writes that bypass FileRegion).
COUNTING_MAIN = r"""
import atexit, json, os, sys
import diskkit.blockdev as blockdev, diskkit.fileio as fileio
count = [0]
opened = []
def counted():
    count[0] += 1
blockdev.crash_point = fileio.crash_point = counted
pkg = os.path.dirname(blockdev.__file__)
def hook(event, args):
    if event != "open" or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    mode, flags = args[1], args[2]
    writing = (mode and any(c in mode for c in "wa+x")) or (
        mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR))
    if not writing:
        return
    frame = sys._getframe(1)
    while frame and not frame.f_code.co_filename.startswith(pkg):
        frame = frame.f_back
    if frame:
        opened.append([os.fsdecode(args[0]), os.path.relpath(frame.f_code.co_filename, pkg),
                       frame.f_lineno])
sys.addaudithook(hook)
def report():
    with open(os.environ["DISKKIT_COUNT_FILE"], "w") as fh:
        json.dump({"writes": count[0], "opened": opened}, fh)
atexit.register(report)
from diskkit.cli.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def run(argv: list, cwd: Path, kill_after: int | None = None, count_file: Path | None = None,
        timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(ENV)
    if kill_after is not None:
        env["DISKKIT_KILL_AFTER_WRITES"] = str(kill_after)
    if count_file is not None:
        env["DISKKIT_COUNT_FILE"] = str(count_file)
        cmd = [sys.executable, "-c", COUNTING_MAIN, *map(str, argv)]
    else:
        cmd = [sys.executable, "-m", "diskkit", *map(str, argv)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


# -- checks ----------------------------------------------------------------------------------

def vhd_fat_healthy(path: Path) -> str | None:
    return diskkit_check("vhd", "check", path) or repairable(
        path, ["fat", "check"], ["fat", "repair"], vhd_fat_tree)


def diskkit_check(*argv) -> str | None:
    """None when the diskkit check exits 0, else its output."""
    proc = run(list(argv), Path.cwd())
    return None if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stdout}{proc.stderr}"


# -- scenarios ------------------------------------------------------------------------------

@dataclass
class Scenario:
    name: str
    command: tuple[str, ...]  # the CLI words it needs
    setup: Callable[[Path], None]  # builds the inputs in a directory
    argv: list[str]  # relative to that directory
    state: Callable[[Path], object]  # logical content of what the command changes
    healthy: Callable[[Path], str | None]  # None when the result passes its check
    output: str | None = None  # a NEW file the command creates (atomic: absent or complete)
    per_file: bool = False  # many files: each path old or new, not the whole tree at once
    torn_ok: str | None = None  # a check complaint that is an honest "not formatted (yet)"
    repaired: Callable[[Path], object] | None = None  # state after the layer's repair, if clean


def fat_scenario(name, argv, **kw) -> Scenario:
    return Scenario(name, tuple(argv[:2]), kw.pop("setup", fat_image), argv,
                    lambda d: fat_tree(d / "fat.img"), fat_healthy,
                    repaired=lambda d: state_after_repair(d / "fat.img", ["fat", "check"],
                                                          ["fat", "repair"], fat_tree), **kw)


def gpt_damaged_primary(d: Path) -> None:
    gpt_image(d)
    with open(d / "disk.img", "r+b") as fh:
        fh.seek(512 + 60)
        fh.write(b"\xAA")  # primary header CRC no longer matches


def repairable(image: Path, check: list[str], repair: list[str], state) -> str | None:
    """None when ``check`` is clean, or when ``repair`` on a copy makes it clean, same content.

    Two GPT copies, or a FAT's data, tables and directory entries, cannot be written in one
    atomic step: an interrupted edit may leave a stale GPT copy, lost clusters or a FAT copy
    not yet updated. The guarantee is that nothing the user sees is lost and the matching
    repair command restores a clean image without changing its content.
    """
    problem = diskkit_check(*check, image)
    if problem is None:
        return None
    if not problem.startswith("exit 1"):
        return problem
    trial = image.with_name("repair-trial-" + image.name)
    shutil.copyfile(image, trial)
    try:
        before = state(trial)
        repaired = run([*repair, trial], image.parent)
        if repaired.returncode:
            return f"{problem}\nand `{' '.join(repair)}` fails: {repaired.stdout}{repaired.stderr}"
        after = diskkit_check(*check, trial)
        if after:
            return f"{problem}\nand after `{' '.join(repair)}`: {after}"
        if state(trial) != before:
            return f"{problem}\nand `{' '.join(repair)}` changed the content"
        return None
    finally:
        trial.unlink()


def state_after_repair(image: Path, check: list[str], repair: list[str], state):
    """The content once ``repair`` ran on a copy and ``check`` is clean, else None."""
    trial = image.with_name("repaired-" + image.name)
    shutil.copyfile(image, trial)
    try:
        if run([*repair, trial], image.parent).returncode or diskkit_check(*check, trial):
            return None
        return state(trial)
    finally:
        trial.unlink()


def diskkit_content(path: Path) -> str | None:
    """Size and digest of the virtual disk as diskkit reads it (trailing footer first, where
    qemu reads a dynamic VHD's copy at offset 0 first)."""
    raw = path.with_name(path.name + ".diskkit-raw")
    if run(["convert", "--to", "raw", path, raw], path.parent).returncode:
        return None
    try:
        return f"{raw.stat().st_size}:{sha(raw)}"
    finally:
        raw.unlink()


def table_healthy(d: Path) -> str | None:
    return repairable(d / "disk.img", ["part", "verify"], ["part", "repair"], table_state)


def fat_healthy(d: Path, name: str = "fat.img") -> str | None:
    return repairable(d / name, ["fat", "check"], ["fat", "repair"], fat_tree)


def table_scenario(name, setup, argv) -> Scenario:
    return Scenario(name, tuple(argv[:2]), setup, argv, lambda d: table_state(d / "disk.img"),
                    table_healthy)


def vhdx_source(d: Path) -> None:
    """A dynamic VHDX made by qemu-img (1 MiB blocks) holding a FAT volume."""
    fat_image(d, "content.raw", 4 * MiB)
    run_tool("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o",
             "subformat=dynamic,block_size=1M", d / "content.raw", d / "src.vhdx")
    (d / "content.raw").unlink()


def new_output(name, argv, out, fmt, extra_setup=None) -> Scenario:
    def setup(d):
        vhd_source(d)
        if extra_setup:
            extra_setup(d)

    def state(d):
        return disk_content(d / out, fmt) if (d / out).exists() else None

    def healthy(d):
        return diskkit_check("check", d / out) if (d / out).exists() else None

    words = tuple(w for w in argv[:2] if not w.startswith("-") and "." not in w)
    return Scenario(name, words, setup, argv, state, healthy, output=out)


def fat_big_setup(d: Path) -> None:
    """A FAT16 volume with 4 KiB clusters (on 4 KiB boundaries of the image), so a put of a
    file of 1 MiB or more writes it from a mapping with O_DIRECT."""
    with open(d / "fat.img", "wb") as fh:
        fh.truncate(24 * MiB)
    run_tool("mkfs.fat", "-F", "16", "-s", "8", "-i", "12345678", d / "fat.img")
    run_tool("mmd", "-i", d / "fat.img", "::/dir")
    (d / "new.bin").write_bytes(os.urandom(5 * MiB + 777))


def esp_setup(d: Path) -> None:
    fat_image(d, "fat.img", 8 * MiB, files=False)
    (d / "BOOTX64.EFI").write_bytes(efi_stub(200_000))
    (d / "grub.cfg").write_text("echo hello\n")


ESP_BUILD = ["esp", "build", "fat.img", "--loader", "BOOTX64.EFI", "--config", "grub.cfg",
             "--removable"]


def esp_rebuild_setup(d: Path) -> None:
    """An ESP already built once; the test installs a new loader and config over it."""
    esp_setup(d)
    proc = run(ESP_BUILD, d)
    assert proc.returncode == 0, proc.stderr
    (d / "BOOTX64.EFI").write_bytes(efi_stub(150_000))
    (d / "grub.cfg").write_text("echo updated\n")


def esp_directory_setup(d: Path) -> None:
    """A mounted ESP (a folder) that already holds an older loader and config."""
    esp_setup(d)
    (d / "mnt" / "EFI" / "BOOT").mkdir(parents=True)
    (d / "mnt" / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(efi_stub(90_000))
    (d / "mnt" / "EFI" / "BOOT" / "grub.cfg").write_text("echo old\n")


def leftover_setup(d: Path) -> None:
    """``disk.img`` (GPT: an ESP with a deleted file, an NTFS quick-formatted over random
    bytes) and ``disk.vhd``, the same disk as a dynamic VHD made by qemu-img."""
    from support.ntfs import leftover_disk, make_tree

    make_tree(str(d / "src"), seed=4, files=20, depth=2, max_size=100_000)
    where = leftover_disk(str(d / "disk.img"), str(d / "src"), ntfs_size=24 * MiB,
                          fat_size=8 * MiB)
    shutil.rmtree(d / "src")
    (d / "where.json").write_text(json.dumps(where))
    run_tool("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on",
             d / "disk.img", d / "disk.vhd")


def used_state(path: Path, fmt: str) -> str | None:
    """What the filesystems hold: the ESP's tree (mtools) and every cluster the NTFS's
    $Bitmap (read by ntfscat) marks used; free clusters may hold anything."""
    where = json.loads((path.parent / "where.json").read_text())
    raw = path.with_name(path.name + ".state.raw")
    try:
        run_tool("qemu-img", "convert", "-f", fmt, "-O", "raw", path, raw)
        esp = fat_tree(raw, where["esp"][0])
        start, size = where["ntfs"]
        volume = raw.with_name("ntfs.state")
        with open(raw, "rb") as src, open(volume, "wb") as dst:
            src.seek(start)
            dst.write(src.read(size))
        bitmap = subprocess.run(["ntfscat", "-i", "6", volume], capture_output=True,
                                check=True).stdout
        data = volume.read_bytes()
        volume.unlink()
        bits = int.from_bytes(bitmap, "little")
        digest = hashlib.sha256()
        for n in range(size // 4096):
            if bits >> n & 1:
                digest.update(data[n * 4096:(n + 1) * 4096])
        return json.dumps([esp, digest.hexdigest()])
    finally:
        raw.unlink(missing_ok=True)


def zero_free_scenario(name: str, image: str, fmt: str) -> Scenario:
    return Scenario(name, ("compact",), leftover_setup, ["compact", "--zero-free", image],
                    lambda d: used_state(d / image, fmt),
                    lambda d: diskkit_check("check", d / image))


def tree_state(root: Path) -> dict:
    """Every file under ``root`` and its digest (a directory ESP as the firmware sees it)."""
    return {str(p.relative_to(root)): sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


SCENARIOS = [
    new_output("vhd-create-dynamic", ["vhd", "create", "--size", "8M", "--type", "dynamic",
                                      "--block-size", "64K", "out.vhd"], "out.vhd", "vpc"),
    new_output("vhd-create-fixed", ["vhd", "create", "--size", "8M", "out.vhd"], "out.vhd", "vpc"),
    new_output("convert-to-dynamic", ["convert", "--to", "dynamic", "--block-size", "64K",
                                      "src.vhd", "out.vhd"], "out.vhd", "vpc"),
    new_output("convert-to-fixed", ["convert", "--to", "fixed", "src.vhd", "out.vhd"],
               "out.vhd", "vpc"),
    new_output("convert-to-raw", ["convert", "--to", "raw", "src.vhd", "out.img"], "out.img", "raw"),
    new_output("vhdx-create", ["vhdx", "create", "--size", "8M", "--block-size", "1M",
                               "out.vhdx"], "out.vhdx", "vhdx"),
    new_output("convert-to-vhdx", ["convert", "--to", "vhdx", "--block-size", "1M", "src.vhd",
                                   "out.vhdx"], "out.vhdx", "vhdx"),
    Scenario("fat-put-into-vhdx", ("fat", "put"), vhdx_source,
             ["fat", "put", "src.vhdx", "new.bin", "/dir/new.bin"],
             lambda d: vhd_fat_tree(d / "src.vhdx", "vhdx"),
             lambda d: diskkit_check("vhdx", "check", d / "src.vhdx") or repairable(
                 d / "src.vhdx", ["fat", "check"], ["fat", "repair"],
                 lambda p: vhd_fat_tree(p, "vhdx"))),
    Scenario("resize-vhdx-grow", ("resize",), vhdx_source,
             ["resize", "src.vhdx", "--size", "+5M"],
             lambda d: disk_content(d / "src.vhdx", "vhdx"),
             lambda d: diskkit_check("check", d / "src.vhdx")),
    Scenario("resize-vhdx-shrink", ("resize",), vhdx_source,
             ["resize", "src.vhdx", "--size", "3M", "--force"],
             lambda d: disk_content(d / "src.vhdx", "vhdx", keep=3 * MiB),
             lambda d: diskkit_check("vhdx", "check", d / "src.vhdx")),
    Scenario("resize-raw-grow-part", ("resize",), gpt_image,
             ["resize", "disk.img", "--size", "24M", "--grow-part", "2"],
             lambda d: table_state(d / "disk.img"), table_healthy),
    Scenario("resize-dynamic-vhd-grow", ("resize",), vhd_source,
             ["resize", "src.vhd", "--size", "+4M"],
             lambda d: disk_content(d / "src.vhd", "vpc"),
             lambda d: repairable(d / "src.vhd", ["check"], ["vhd", "repair"],
                                  diskkit_content)),
    Scenario("resize-fixed-vhd-shrink", ("resize",), fixed_vhd_source,
             ["resize", "fixed.vhd", "--size", "3M", "--force"],
             lambda d: disk_content(d / "fixed.vhd", "vpc", keep=3 * MiB),
             lambda d: diskkit_check("vhd", "check", d / "fixed.vhd")),
    zero_free_scenario("compact-zero-free-raw", "disk.img", "raw"),
    zero_free_scenario("compact-zero-free-dynamic", "disk.vhd", "vpc"),
    new_output("convert-skip-free", ["convert", "--skip-free", "--to", "dynamic",
                                     "--block-size", "64K", "src.vhd", "out.vhd"], "out.vhd",
               "vpc"),
    Scenario("compact-dynamic", ("compact",), vhd_source, ["compact", "sparse.vhd"],
             lambda d: disk_content(d / "sparse.vhd", "vpc"),
             lambda d: diskkit_check("vhd", "check", d / "sparse.vhd")),
    table_scenario("part-add-gpt", gpt_image, ["part", "add", "disk.img", "--type", "linux",
                                               "--size", "2M"]),
    table_scenario("part-add-mbr", mbr_image, ["part", "add", "disk.img", "--type", "linux",
                                               "--size", "1M"]),
    table_scenario("part-add-logical", mbr_image, ["part", "add", "disk.img", "--type", "linux",
                                                   "--size", "1M", "--logical"]),
    table_scenario("part-delete-gpt", gpt_image, ["part", "delete", "disk.img", "1"]),
    table_scenario("part-delete-mbr", mbr_image, ["part", "delete", "disk.img", "1"]),
    table_scenario("part-resize-gpt", gpt_image, ["part", "resize", "disk.img", "2", "--grow"]),
    table_scenario("part-repair-gpt", gpt_damaged_primary, ["part", "repair", "disk.img"]),
    fat_scenario("fat-mkfs", ["fat", "mkfs", "fat.img", "--fat", "12", "--label", "NEW"],
                 torn_ok="not a valid FAT boot sector"),
    fat_scenario("fat-put-file", ["fat", "put", "fat.img", "new.bin", "/dir/new.bin"]),
    fat_scenario("fat-put-tree", ["fat", "put", "-r", "fat.img", "tree", "/"], per_file=True),
    fat_scenario("fat-put-mapped", ["fat", "put", "fat.img", "new.bin", "/dir/new.bin"],
                 setup=fat_big_setup),
    fat_scenario("fat-rm-tree", ["fat", "rm", "-r", "fat.img", "/dir"], per_file=True),
    fat_scenario("fat-mv", ["fat", "mv", "fat.img", "/dir/big.bin", "/moved with long name.bin"]),
    Scenario("fat-put-into-dynamic-vhd", ("fat", "put"), vhd_source,
             ["fat", "put", "src.vhd", "new.bin", "/dir/new.bin"],
             lambda d: vhd_fat_tree(d / "src.vhd"), lambda d: vhd_fat_healthy(d / "src.vhd")),
    fat_scenario("esp-build", ESP_BUILD, setup=esp_setup, per_file=True),
    fat_scenario("esp-rebuild", ESP_BUILD, setup=esp_rebuild_setup, per_file=True),
    Scenario("esp-build-directory", ("esp", "build"), esp_directory_setup,
             ["esp", "build", "mnt", "--loader", "BOOTX64.EFI", "--config", "grub.cfg",
              "--removable"], lambda d: tree_state(d / "mnt"), lambda d: None, per_file=True),
    new_output("ramos-init", ["ramos", "init", "--size", "3G", "--no-ntfs", "ramos.vhd"],
               "ramos.vhd", "vpc"),
    new_output("synth", ["synth", "synth.vhd", "--seed", "4", "--container", "dynamic",
                         "--table", "gpt", "--fs", "fat16", "--files", "5"], "synth.vhd", "vpc"),
]


def kill_points(total: int) -> list[int]:
    """Spread the requested number of points over 1..total (both ends included)."""
    if POINTS == "all" or total <= int(POINTS):
        return list(range(1, total + 1))
    n = int(POINTS)
    return sorted({1 + round(i * (total - 1) / (n - 1)) for i in range(n)})


def prepare(scenario: Scenario, base: Path) -> Path:
    pristine = base / "pristine"
    pristine.mkdir()
    scenario.setup(pristine)
    return pristine


def fresh_copy(pristine: Path, where: Path) -> Path:
    shutil.copytree(pristine, where)
    return where


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_killed_at_every_write_point(scenario: Scenario, tmp_path):
    assert_command(*scenario.command)
    pristine = prepare(scenario, tmp_path)
    old = scenario.state(pristine)

    full = fresh_copy(pristine, tmp_path / "full")
    counted = run(scenario.argv, full, count_file=tmp_path / "count.json")
    assert counted.returncode == 0, f"uninterrupted run failed: {counted.stderr}"
    new = scenario.state(full)
    assert scenario.healthy(full) is None, scenario.healthy(full)
    counted_run = json.loads((tmp_path / "count.json").read_text())
    writes = counted_run["writes"]
    assert writes > 0, "the command never reached a crash point: its writes bypass FileRegion"
    existing = {p.name for p in pristine.iterdir()}
    bypass = [f"{where}:{line} opened {name}" for name, where, line in counted_run["opened"]
              if os.path.basename(name) in existing and where != "blockdev.py"]
    assert not bypass, f"in-place writes that bypass FileRegion (no crash points): {bypass}"

    def one(point: int) -> str | None:
        work = fresh_copy(pristine, tmp_path / f"kill{point}")
        proc = run(scenario.argv, work, kill_after=point)
        if proc.returncode != -9:
            return f"point {point}/{writes}: expected SIGKILL, got exit {proc.returncode}: {proc.stderr}"
        if scenario.output:
            if (work / scenario.output).exists() and scenario.state(work) != new:
                return f"point {point}/{writes}: {scenario.output} exists but is incomplete"
        state = scenario.state(work)
        problem = scenario.healthy(work)
        if problem and scenario.torn_ok and scenario.torn_ok in problem and state in (None, old, new):
            return None  # refused as unformatted: honest, and nothing half-made is visible
        if not old_or_new(state, old, new, scenario.per_file):
            # e.g. a moved file listed under both names: check must flag it, repair resolve it
            fixed = scenario.repaired(work) if scenario.repaired and problem else None
            if fixed is None or not old_or_new(fixed, old, new, scenario.per_file):
                return f"point {point}/{writes}: content is neither the old nor the new one"
            problem = None
        if problem and not (state == old and scenario.healthy(pristine)):
            return f"point {point}/{writes}: check fails afterwards: {problem}"
        shutil.rmtree(work)
        return None

    with ThreadPoolExecutor(WORKERS) as pool:
        failures = [f for f in pool.map(one, kill_points(writes)) if f]
    assert not failures, f"{scenario.name} ({writes} write points):\n" + "\n".join(failures)


def old_or_new(state, old, new, per_file: bool) -> bool:
    """Whole state old or new; per file: every path holds its old or its new content."""
    if state in (old, new):
        return True
    if not per_file or not all(isinstance(s, dict) for s in (state, old, new)):
        return False
    complete = set(new.values()) - {"dir"}
    for path in {*state, *old, *new}:
        if state.get(path) in (old.get(path), new.get(path)):
            continue
        if path not in old and path not in new and state[path] in complete:
            continue  # a leftover temporary copy, complete: harmless, reported by no check
        return False
    return True
