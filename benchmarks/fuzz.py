"""Fuzz diskkit's parsers with atheris (libFuzzer for Python).

    python -m benchmarks.fuzz --list                 targets and whether they can run yet
    python -m benchmarks.fuzz gpt --seconds 300      fuzz one target for 5 minutes
    python -m benchmarks.fuzz all --seconds 120      every runnable target, one after another
    python -m benchmarks.fuzz --make-corpus          rebuild fixtures/fuzz from oracle tools

The seed corpus lives in ``fixtures/fuzz/<target>/``; new interesting inputs go to a work
directory (``--workdir``, default /tmp/diskkit-fuzz/<target>) so the repository stays small.
A crash (any exception but DiskkitError, a timeout, or memory beyond the limit) is written to
``fixtures/crashes/<target>/`` where ``tests/test_fuzz_corpus.py`` replays it forever.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import vhdcraft
from .fuzz_targets import (CRASH_DIR, FUZZ_DIR, FUZZ_LINKAGE, FUZZ_PARENT, TARGETS, TEMPLATE_DIR,
                           VHDX_LOG_GUID, VHDX_REGIONS,
                           Region, fat_region, template)

MiB = 1 << 20


def fuzz_one(name: str, seconds: int, workdir: Path, timeout: int) -> int:
    """Run libFuzzer over one target in this process (atheris exits when done)."""
    import atheris

    target = TARGETS[name]
    with atheris.instrument_imports(include=["diskkit"]):
        target.load()  # first import happens here, so it is instrumented
    from diskkit.errors import DiskkitError

    def one_input(data: bytes) -> None:
        try:
            target.run(data)
        except DiskkitError:
            pass

    seeds = FUZZ_DIR / name
    crashes = CRASH_DIR / name
    workdir.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    argv = [sys.argv[0], f"-max_total_time={seconds}", f"-timeout={timeout}",
            "-rss_limit_mb=1536", f"-max_len={target.max_len}", "-print_final_stats=1",
            f"-artifact_prefix={crashes}/", str(workdir), str(seeds)]
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0


def fuzz_all(names: list[str], seconds: int, workroot: Path, timeout: int) -> int:
    """Each target in its own process (atheris cannot restart); print a summary table."""
    rows = []
    for name in names:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.fuzz", name, "--seconds",
                               str(seconds), "--workdir", str(workroot / name),
                               "--timeout", str(timeout)],
                              capture_output=True, text=True, cwd=FUZZ_DIR.parent.parent)
        runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
        done = re.findall(r"Done (\d+) runs", proc.stderr)
        execs = (runs or done or ["?"])[-1]
        crash = re.findall(r"Test unit written to (\S+)", proc.stderr)
        status = "crash: " + ", ".join(crash) if crash else f"exit {proc.returncode}"
        rows.append((name, execs, status))
        log = workroot / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stderr)
    for row in rows:
        print("  ".join(str(c) for c in row))
    return 0


# -- seed corpus -----------------------------------------------------------------------------

def sh(*cmd: str, cwd: str | None = None) -> None:
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C")
    subprocess.run(cmd, check=True, capture_output=True, cwd=cwd, env=env)


def blank(path: str, size: int) -> None:
    with open(path, "wb") as fh:
        fh.truncate(size)


def populate_fat(img: str, work: str) -> None:
    """Short names, long names, a nested directory and a multi-cluster file, via mtools."""
    files = {"README.TXT": b"hello from the fuzz template\n",
             "A long file name with spaces.txt": b"long name\n" * 40,
             "empty": b""}
    for name, data in files.items():
        Path(work, name).write_bytes(data)
        sh("mcopy", "-i", img, str(Path(work, name)), f"::/{name}")
    sh("mmd", "-i", img, "::/Sub Directory")
    sh("mmd", "-i", img, "::/Sub Directory/deeper")
    Path(work, "big.bin").write_bytes(bytes(range(256)) * 40)
    sh("mcopy", "-i", img, str(Path(work, "big.bin")), "::/Sub Directory/Nested Long Name.bin")
    sh("mcopy", "-i", img, str(Path(work, "README.TXT")), "::/Sub Directory/deeper/x.txt")


def write_seed(target: str, name: str, data: bytes) -> None:
    folder = FUZZ_DIR / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def make_templates(work: str) -> None:
    TEMPLATE_DIR.mkdir(parents=True, exist_ok=True)
    for kind, size, opts in (("fat12", MiB, ["-F", "12", "-s", "2"]),
                             ("fat32", 33 * MiB, ["-F", "32", "-s", "1"])):
        img = os.path.join(work, f"{kind}.img")
        blank(img, size)
        sh("mkfs.fat", *opts, "-i", "12345678", "-n", "FUZZ", img)
        populate_fat(img, work)
        sh("fsck.fat", "-n", img)
        with open(img, "rb") as src, gzip.GzipFile(TEMPLATE_DIR / f"{kind}.img.gz", "wb",
                                                   mtime=0) as dst:
            shutil.copyfileobj(src, dst)
    make_ntfs_template(work)
    template.cache_clear()


def make_ntfs_template(work: str) -> None:
    """8 MiB NTFS by mkntfs + wimapply: root files, a non-resident file, ``Sub`` with 60
    entries (an index block); through an ntfs-3g mount when FUSE works: an LZNT1-compressed
    file, a CompactOS (XPRESS4K) file, an alternate stream, a DOS name and a file with an
    attribute list. Used by the ntfs fuzz targets and tests/support/ntfs_hostile.py."""
    from . import ntfscraft

    src = os.path.join(work, "ntfs-src")
    os.makedirs(os.path.join(src, "Sub"))
    files = {"README.TXT": b"hello from the fuzz template\n",
             "big.bin": bytes(range(256)) * 400, "ab": b"two", "axb": b"three",
             "a_b": b"four", "Sub/inner.txt": b"inside\n"}
    files.update({f"Sub/file-{i:02d}.txt": b"x" * i for i in range(60)})
    for rel, data in files.items():
        Path(src, rel).write_bytes(data)
    img = os.path.join(work, "ntfs.img")
    ntfscraft.mkntfs(img, 8 * MiB, label="FUZZ")
    ntfscraft.apply_tree(img, src)
    try:
        with ntfscraft.mounted(img) as mnt:
            os.mkdir(f"{mnt}/comp")
            ntfscraft.set_attributes(f"{mnt}/comp", 0x800)
            text = b"".join(b"line %d of a compressible file\n" % i for i in range(3000))
            Path(mnt, "comp", "text.txt").write_bytes(text)
            ntfscraft.make_wof_file(f"{mnt}/wof.dll", text[:20000], "XPRESS4K")
            Path(mnt, "ads.txt").write_bytes(b"main")
            Path(mnt, "ads.txt:Zone.Identifier").write_bytes(b"[ZoneTransfer]\r\nZoneId=3\r\n")
            Path(mnt, "Long File Name.txt").write_bytes(b"alias")
            os.setxattr(f"{mnt}/Long File Name.txt", "system.ntfs_dos_name", b"LONGFI~1.TXT")
            with open(f"{mnt}/holes", "wb") as fh:  # 300 holes: an attribute list
                for i in range(300):
                    fh.seek(i * 8192)
                    fh.write(b"h" * 4096)
    except ntfscraft.Unavailable as exc:
        print(f"ntfs template without FUSE-made files: {exc}", file=sys.stderr)
    sh("ntfsfix", "-n", img)
    with open(img, "rb") as src_fh, gzip.GzipFile(TEMPLATE_DIR / "ntfs.img.gz", "wb",
                                                  mtime=0) as dst:
        shutil.copyfileobj(src_fh, dst)
    template.cache_clear()


def make_ntfs_seeds() -> None:
    from .fuzz_targets import ntfs_region
    from . import ntfscraft

    for where, name in (("boot", "boot.bin"), ("mft", "mft.bin"), ("index", "sub-index.bin")):
        write_seed(f"ntfs_{where}", name, region_bytes(ntfs_region(where)))
    write_seed("ntfs_codecs", "index-block.bin", region_bytes(ntfs_region("index")))
    write_seed("ntfs_codecs", "record.bin", region_bytes(ntfs_region("mft"))[:1024])
    text = b"".join(b"line %d of a compressible file\n" % i for i in range(600))
    write_seed("ntfs_codecs", "xpress4k.bin", ntfscraft.wof_pack(text[:4096], "XPRESS4K"))
    write_seed("ntfs_codecs", "runs.bin", bytes.fromhex("3104a0bb0f000121f0ff1102fe00"))


def gpt_image(work: str, name: str, *args: str, size: int = 128 * 1024) -> bytes:
    img = os.path.join(work, name)
    blank(img, size)
    sh("sgdisk", "-o", *args, img)
    sh("sgdisk", "-v", img)
    return Path(img).read_bytes()


def mbr_image(work: str, name: str, script: str, size: int = 128 * 1024) -> bytes:
    img = os.path.join(work, name)
    blank(img, size)
    subprocess.run(["sfdisk", "--no-reread", "--no-tell-kernel", img], input=script.encode(),
                   check=True, capture_output=True)
    return Path(img).read_bytes()


def verified_vhd(work: str, raw: bytes, vhd: bytes) -> bytes:
    """Check a hand-made VHD against qemu-img before it becomes a seed."""
    a, b = os.path.join(work, "c.raw"), os.path.join(work, "c.vhd")
    Path(a).write_bytes(raw)
    Path(b).write_bytes(vhd)
    sh("qemu-img", "compare", "-f", "raw", "-F", "vpc", a, b)
    return vhd


def make_parent_locator_seeds() -> None:
    """Parent locators: the one that finds the fuzz parent, one whose linkage is another GUID,
    one naming a missing file, and one with no entries."""
    from diskkit.vhdx.structures import build_parent_locator

    good = {"parent_linkage": "{" + FUZZ_LINKAGE + "}", "relative_path": ".\\" + FUZZ_PARENT}
    seeds = {"found.bin": good,
             "other-linkage.bin": dict(good, parent_linkage="{" + "1" * 8 + "-2222-3333-4444-"
                                                            + "5" * 12 + "}"),
             "missing.bin": dict(good, relative_path="..\\gone.vhdx",
                                 absolute_win32_path="C:\\VMs\\gone.vhdx"),
             "empty.bin": {}}
    for name, entries in seeds.items():
        write_seed("vhdx_parent_locator", name, build_parent_locator(entries))


def make_vhdx_seeds(work: str, raw: bytes) -> None:
    """The VHDX template (qemu-img's dynamic VHDX of ``raw`` in 4 MiB, 1 MiB blocks) and, per
    VHDX target, the template's own bytes where the input lands (plus a replayable log entry)."""
    from diskkit.vhdx import log as vhdx_log

    src, img = os.path.join(work, "v.raw"), os.path.join(work, "v.vhdx")
    Path(src).write_bytes(raw.ljust(4 * MiB, b"\0"))
    sh("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "subformat=dynamic,block_size=1M",
       src, img)
    sh("qemu-img", "compare", "-f", "raw", "-F", "vhdx", src, img)
    with open(img, "rb") as fh, gzip.GzipFile(TEMPLATE_DIR / "vhdx.img.gz", "wb", mtime=0) as dst:
        shutil.copyfileobj(fh, dst)
    template.cache_clear()
    base = template("vhdx")
    for name, (offset, limit, _) in VHDX_REGIONS.items():
        write_seed(name, "qemu-template.bin", base[offset:offset + limit].rstrip(b"\0") or b"\0")
    bat_at = VHDX_REGIONS["vhdx_bat"][0]
    entry = vhdx_log.build_entry(1, 0, VHDX_LOG_GUID, len(base), len(base),
                                 [(bat_at, base[bat_at:bat_at + 4096])])
    write_seed("vhdx_log", "one-entry.bin", entry)


def make_odd_mbr_seeds(work: str) -> None:
    """MBR seeds other tools write oddly: EBR links ahead of the data entry and a second data
    entry (sfdisk's chain, slots rearranged), a FAT boot sector with mkfs.fat's fake entry."""
    chain = bytearray(mbr_image(work, "mbr3.img", "label: dos\nstart=1, size=31, type=83\n"
                                "start=32, size=200, type=5\nstart=40, size=40, type=83\n"
                                "start=90, size=50, type=c\nstart=150, size=40, type=7\n"))
    ebr = 32
    while True:
        at = ebr * 512 + 446
        data, link = chain[at:at + 16], chain[at + 16:at + 32]
        chain[at:at + 32] = link + data  # the link first, as some tools write it
        if link[4] != 5:
            break
        ebr = 32 + int.from_bytes(link[8:12], "little")
    chain[32 * 512 + 446 + 32:32 * 512 + 446 + 48] = chain[32 * 512 + 446 + 16:32 * 512 + 446 + 32]
    write_seed("mbr", "logicals-odd-slots.img", bytes(chain))
    fat = os.path.join(work, "fatmbr.img")
    blank(fat, 128 * 1024)
    sh("mkfs.fat", "--mbr=y", fat)
    write_seed("mbr", "fat-fake-mbr.img", Path(fat).read_bytes())


def make_corpus() -> None:
    """Rebuild every seed from tools written by others (mkfs.fat, mtools, sgdisk, sfdisk, qemu-img,
    mkntfs, wimlib, ntfs-3g)."""
    with tempfile.TemporaryDirectory() as work:
        make_templates(work)
        gpt3 = gpt_image(work, "gpt3.img", "-n", "1:40:+16K", "-c", "1:EFI system",
                         "-t", "1:ef00", "-n", "2:0:+24K", "-c", "2:data \u00e9\u00e8",
                         "-t", "2:0700", "-n", "3:0:0", "-t", "3:8300")
        write_seed("gpt", "three-partitions.img", gpt3)
        write_seed("gpt", "empty-table.img", gpt_image(work, "gpt0.img"))
        write_seed("gpt", "hybrid-mbr.img", gpt_image(work, "gpth.img", "-n", "1:40:+16K",
                                                      "-t", "1:0700", "-h", "1"))
        write_seed("gpt", "small-entry-array.img",
                   gpt_image(work, "gpt8.img", "-S", "8", "-n", "1:40:+8K"))
        mbr_primary = mbr_image(work, "mbr1.img", "label: dos\nstart=1, size=63, type=c, bootable\n"
                                "start=64, size=64, type=83\nstart=128, size=64, type=7\n")
        write_seed("mbr", "primaries.img", mbr_primary)
        write_seed("mbr", "logicals.img", mbr_image(
            work, "mbr2.img", "label: dos\nstart=1, size=31, type=83\nstart=32, size=200, type=5\n"
            "start=40, size=40, type=83\nstart=90, size=50, type=c\nstart=150, size=40, type=7\n"))
        write_seed("mbr", "protective.img", gpt3[:512] + bytes(len(gpt3) - 512))
        make_odd_mbr_seeds(work)

        content = bytearray(64 * 1024)
        content[:len(mbr_primary[:512])] = mbr_primary[:512]
        content[20000:20016] = b"dynamic vhd data"
        content[-1] = 0x5A
        raw = bytes(content)
        fixed = verified_vhd(work, raw, vhdcraft.fixed_vhd(raw))
        write_seed("vhd_footer", "fixed-mbr.vhd", fixed)
        write_seed("vhd_footer", "footer-only.vhd", fixed[-512:])
        write_seed("vhd_footer", "fixed-gpt.vhd", verified_vhd(work, gpt3, vhdcraft.fixed_vhd(gpt3)))
        dyn = verified_vhd(work, raw, vhdcraft.dynamic_vhd(raw, 4096))
        write_seed("vhd_footer", "dynamic.vhd", dyn)
        write_seed("vhd_dynamic", "dynamic-4k-blocks.vhd", dyn)
        write_seed("vhd_dynamic", "dynamic-16k-blocks.vhd",
                   verified_vhd(work, raw, vhdcraft.dynamic_vhd(raw, 16384)))
        make_vhdx_seeds(work, raw)
        make_parent_locator_seeds()
        write_seed("vhd_dynamic", "dynamic-gpt.vhd",
                   verified_vhd(work, gpt3, vhdcraft.dynamic_vhd(gpt3, 8192)))
        qemu_dyn = os.path.join(work, "q.vhd")
        sh("qemu-img", "create", "-q", "-f", "vpc", qemu_dyn, "4M")
        write_seed("vhd_dynamic", "qemu-empty-4M.vhd", Path(qemu_dyn).read_bytes())

        for kind in ("fat12", "fat32"):
            write_seed("fat_boot", f"{kind}-boot.bin", template(kind)[:512])
        fat16 = os.path.join(work, "fat16.img")
        blank(fat16, 16 * MiB)
        sh("mkfs.fat", "-F", "16", fat16)
        write_seed("fat_boot", "fat16-boot.bin", Path(fat16).read_bytes()[:512])
        write_seed("fat_fsinfo", "fsinfo.bin", region_bytes(fat_region(b"", "fsinfo")))
        write_seed("fat_table", "fat12-table.bin", region_bytes(fat_region(b"", "table")))
        write_seed("fat_dir", "root.bin", region_bytes(fat_region(b"", "root")).rstrip(b"\0"))
        write_seed("fat_subdir", "subdir.bin", region_bytes(fat_region(b"", "subdir")).rstrip(b"\0"))
        drivers = FUZZ_DIR.parent / "drivers"
        for inf in sorted(drivers.glob("*/*.inf")):
            write_seed("inf", inf.name, inf.read_bytes())
            if not inf.read_bytes().startswith(b"\xff\xfe"):
                text = inf.read_bytes().decode("utf-8", "replace")
                write_seed("inf", f"utf16-{inf.name}", b"\xff\xfe" + text.encode("utf-16-le"))
        for ids in sorted(drivers.glob("*.txt")):
            write_seed("hwids", ids.name, ids.read_bytes())
        make_ntfs_seeds()
        recipe = (FUZZ_DIR.parent / "ramos.toml").read_bytes()
        write_seed("recipe", "full.toml", recipe)
        write_seed("recipe", "minimal.toml", b'[vhd]\npath = "w.vhd"\nsize = "8G"\n')
        write_seed("recipe", "ntloader.toml", b'[vhd]\npath = "w.vhd"\nsize = "20G"\n'
                   b'chain = "ntloader"\nram = "32G"\nssd_read = "500MB/s"\n')
        print(f"seeds written under {FUZZ_DIR}")


def region_bytes(region: Region) -> bytes:
    base = template(region.template)
    return base[region.offset:region.offset + region.limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="a target name, or 'all'")
    parser.add_argument("--seconds", type=int, default=60, help="time budget per target")
    parser.add_argument("--timeout", type=int, default=10, help="seconds per input before it counts as a hang")
    parser.add_argument("--workdir", type=Path, help="where new corpus entries go")
    parser.add_argument("--list", action="store_true", help="list targets")
    parser.add_argument("--make-corpus", action="store_true", help="rebuild fixtures/fuzz seeds")
    args = parser.parse_args(argv)
    if args.make_corpus:
        make_corpus()
        return 0
    if args.list or not args.target:
        for name, target in TARGETS.items():
            print(f"{name:12} {target.doc}")
        return 0
    workroot = Path(tempfile.gettempdir(), "diskkit-fuzz")
    if args.target == "all":
        return fuzz_all(list(TARGETS), args.seconds, workroot, args.timeout)
    if args.target not in TARGETS:
        parser.error(f"unknown target {args.target!r}; try --list")
    return fuzz_one(args.target, args.seconds, args.workdir or workroot / args.target, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
