"""Every example in README.md and docs/ runs as written.

An example is a line that starts with ``diskkit `` (or ``$ diskkit ``) in a fenced code block
of README.md, docs/*.md or docs/chains/*.md, joined with its continuation lines (a trailing
``\\`` or ``^``), and each ``diskkit ...`` example in the README's command tables. A line
holding ``[--``, ``|`` or ``...`` is a usage synopsis, not an example.

Every example is parsed by diskkit's own parser. Then it runs in a fresh folder holding the
files the docs name (win.vhd, disk.img, esp.img, grub.cfg, install.wim, ...; a file the example
itself creates is not there beforehand), unless it cannot run on this platform:

- a Windows example: it names a Windows drive path (``D:\\ramos``), sits in a ```cmd block or
  runs ``drivers export``;
- it changes this machine: ``--apply``, ``--device``, ``vm ... --run``, a host path under
  /dev or /boot;
- its code block is marked ``<!-- examples: not run: REASON -->`` on the line before it.

Those are parsed only (on Windows the Windows examples would run). An example that runs ends
with exit code 0 — 1 is accepted from a check that reports problems, 2 where the doc shows the
error right below it — and never with a traceback or "internal error".
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

from support import ENV, diskkit, need_tool, run
from support.uefi import grub_efi

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
DOCS = ["README.md", *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))),
        *sorted(glob.glob(os.path.join(ROOT, "docs", "chains", "*.md")))]
FENCE = re.compile(r"^\s*```(\S*)\s*$")
MARKER = re.compile(r"<!--\s*examples:\s*not run:\s*(.*?)\s*-->")
TABLE_EXAMPLE = re.compile(r"^\|.*\|\s*`(diskkit [^`]+)`")
SYNOPSIS = re.compile(r"\[-|\||\.\.\.")
WINDOWS_PATH = re.compile(r"(^|[\s='\"])[A-Za-z]:\\")
CHECKS = {("check",), ("vhd", "check"), ("vhdx", "check"), ("fat", "check"), ("part", "verify"),
          ("ramos", "doctor")}


@dataclass
class Example:
    doc: str
    line: int
    text: str
    shell: str  # the fenced block's language ("" for none, "table" for the README tables)
    marker: str | None  # the block's "not run" reason
    shows_error: bool  # the doc prints "diskkit: error:" right below it

    @property
    def where(self) -> str:
        return f"{os.path.relpath(self.doc, ROOT)}:{self.line}"

    def why_not_run(self) -> str | None:
        if self.marker:
            return self.marker
        if self.shell in ("cmd", "bat", "powershell") or WINDOWS_PATH.search(self.text) or \
                self.text.endswith("^") or "drivers export" in self.text:
            return "a Windows example"
        if re.search(r"--apply\b|--device\b|(^|\s)/(dev|boot)/", self.text) or \
                re.search(r"\bvm \S+ .*--run\b", self.text):
            return "changes this machine"
        return None


def extract(doc: str) -> list[Example]:
    lines = open(doc, encoding="utf-8").read().split("\n")
    found, shell, marker, pending = [], None, None, None
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            if shell is None:
                shell, marker, pending = fence.group(1), pending, None
            else:
                shell = None
            i += 1
            continue
        if shell is None:
            mark = MARKER.search(line)
            pending = mark.group(1) if mark else (pending if not line.strip() else None)
            table = TABLE_EXAMPLE.match(line) if os.path.basename(doc) == "README.md" else None
            if table:
                found.append(Example(doc, i + 1, table.group(1), "table", None, False))
            i += 1
            continue
        text, start = line.strip(), i
        if shell not in ("python", "text", "toml", "json", "ini"):
            text = text[2:] if text.startswith("$ ") else text
            if re.match(r"^([A-Z_]+=\S+ )?diskkit ", text):
                while text.endswith(("\\", "^")) and i + 1 < len(lines):
                    i += 1
                    text = text[:-1].rstrip() + " " + lines[i].strip()
                shows = i + 1 < len(lines) and lines[i + 1].startswith("diskkit: error:")
                found.append(Example(doc, start + 1, text, shell, marker, shows))
        i += 1
    return [e for e in found if not SYNOPSIS.search(e.text.split(" #")[0])]


EXAMPLES = [e for doc in DOCS for e in extract(os.path.join(ROOT, doc))]


def commands(example: Example) -> list[list[str]]:
    """The diskkit command lines in an example (one or several, ``;``-separated), as argv."""
    windows = example.why_not_run() == "a Windows example"
    lexer = shlex.shlex(example.text, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    if windows:
        lexer.escape = ""  # cmd.exe: a backslash is a path separator
    argvs, current = [], []
    for token in lexer:
        if token in (";", "&&", "|"):
            argvs.append(current)
            current = []
        else:
            current.append(token)
    argvs.append(current)
    result = []
    for argv in argvs:
        while argv and re.match(r"^[A-Z_]+=", argv[0]):
            argv = argv[1:]
        if ">" in argv:
            argv = argv[:argv.index(">")]
        if argv and argv[0] == "diskkit":
            result.append(argv[1:])
    return result


def parse(argv: list[str]):
    from diskkit.cli.__main__ import build_parser

    return build_parser(argv).parse_args(argv)


def test_the_docs_have_examples():
    assert len(EXAMPLES) > 100
    assert {os.path.basename(e.doc) for e in EXAMPLES} >= {"README.md", "ramos.md",
                                                           "ramos.zh-CN.md", "ntloader.md"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.where)
def test_example_parses(example, capsys):
    argvs = commands(example)
    assert argvs, f"{example.where}: no diskkit command in {example.text!r}"
    for argv in argvs:
        try:
            parse(argv)
        except SystemExit as exc:
            pytest.fail(f"{example.where}: `diskkit {' '.join(argv)}` does not parse: "
                        f"{capsys.readouterr().err.strip()} (exit {exc.code})")


# -- running them --------------------------------------------------------------------------------

def sparse_copy(src, dst) -> None:
    subprocess.run(["cp", "--sparse=always", str(src), str(dst)], check=True)


def windows_vhd(base, work):
    """win.vhd: a grub2-map RAMOS image holding a stand-in Windows (hives, boot files, a
    downloaded file with its Zone.Identifier stream) and an ESP as bcdboot makes it."""
    from support import ramos as R
    from support import winhives as W

    image = str(base / "win.vhd")
    diskkit("ramos", "init", image, "--size", "300M", "--chain", "grub2-map")
    table = R.part_table(image)
    esp, win = table["partitions"][0], table["partitions"][2]
    tree = os.path.join(work, "tree")
    R.windows_tree(tree, W.system_keys(), W.software_keys())
    os.makedirs(os.path.join(tree, "Windows", "Boot", "EFI"))
    with open(os.path.join(tree, "Windows", "Boot", "EFI", "bootmgfw.efi"), "wb") as fh:
        fh.write(b"MZ stand-in bootmgfw.efi")
    downloads = os.path.join(tree, "Users", "me", "Downloads")
    os.makedirs(downloads)
    with open(os.path.join(downloads, "setup.exe"), "wb") as fh:
        fh.write(b"MZ stand-in setup.exe")
    R.apply_tree(image, win, tree, work)
    zone = os.path.join(work, "zone.txt")
    with open(zone, "w") as fh:
        fh.write("[ZoneTransfer]\r\nZoneId=3\r\n")
    part = os.path.join(work, "part.ntfs")
    R.extract_partition(image, win, part)
    run("ntfscp", "-f", "-N", "Zone.Identifier", part, zone, "/Users/me/Downloads/setup.exe")
    R.write_partition(image, win, part)
    target = R.esp_target(image, esp)
    for folder in ("::/EFI", "::/EFI/BOOT", "::/EFI/Microsoft", "::/EFI/Microsoft/Boot"):
        run("mmd", "-i", target, folder)
    run("mcopy", "-i", target, base / "BOOTX64.EFI", "::/EFI/BOOT/BOOTX64.EFI")
    bcd = W.ramos_bcd("gpt", table["disk_guid"], esp["guid"], win["guid"])
    run("mcopy", "-i", target, W.build_hive(os.path.join(work, "BCD"), bcd),
        "::/EFI/Microsoft/Boot/BCD")
    return image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The files the docs' examples read, made once."""
    for tool in ("mkntfs", "ntfscp", "wimcapture", "mcopy", "hivexregedit", "grub-mkimage"):
        need_tool(tool)
    base = tmp_path_factory.mktemp("docs-inputs")
    work = str(tmp_path_factory.mktemp("docs-work"))
    efi = grub_efi(str(base / "grubx64.efi"))
    shutil.copy(efi, base / "BOOTX64.EFI")
    windows_vhd(base, work)
    sparse_copy(base / "win.vhd", base / "ramos.vhd")
    diskkit("convert", base / "win.vhd", base / "win.vhdx", "--to", "vhdx")
    (base / "grub.cfg").write_text("echo hello\n")
    (base / "menu.lst").write_text("timeout 5\n")
    (base / "ntloader").write_bytes(b"ntloader stand-in")
    (base / "initrd.cpio").write_bytes(b"initrd stand-in")
    (base / "hwids.txt").write_text("PCI\\VEN_8086&DEV_A382&SUBSYS_00000000\n")
    src = base / "wimsrc" / "Windows" / "System32"
    src.mkdir(parents=True)
    (src / "marker.txt").write_text("hello\n")
    run("wimcapture", base / "wimsrc", base / "install.wim", "test")
    shutil.rmtree(base / "wimsrc")
    # ntfs.img: a bare NTFS volume
    with open(base / "ntfs.img", "wb") as fh:
        fh.truncate(16 * 1024 * 1024)
    run("mkntfs", "-F", "-f", "-q", base / "ntfs.img")
    run("ntfscp", "-f", base / "ntfs.img", base / "grub.cfg", "/HELLO.TXT")
    # disk.img: 32 GiB sparse, GPT: ESP with files, a Linux and a data partition, room to grow
    disk = str(base / "disk.img")
    with open(disk, "wb") as fh:
        fh.truncate(32 * 1024 ** 3)
    diskkit("part", "init", disk, "--gpt")
    diskkit("part", "add", disk, "--type", "esp", "--size", "100M")
    diskkit("part", "add", disk, "--type", "linux", "--size", "16M")
    diskkit("part", "add", disk, "--type", "windows", "--size", "200M")
    diskkit("fat", "mkfs", disk, "--part", "1", "--label", "ESP")
    diskkit("fat", "mkdir", "-p", disk, "--part", "1", "/EFI/BOOT", "/EFI/old")
    diskkit("fat", "put", disk, "--part", "1", base / "grub.cfg", efi, "/EFI/BOOT")
    diskkit("fat", "put", disk, "--part", "1", base / "hwids.txt", "/notes.txt")
    sparse_copy(disk, base / "esp.img")
    diskkit("convert", disk, base / "disk.vhd", "--to", "dynamic")
    diskkit("esp", "create", base / "esp.vhd", "--size", "64M", "--loader", efi, "--removable")
    diskkit("vhd", "create", base / "data.vhd", "--size", "1G", "--type", "dynamic")
    diskkit("vhd", "create", base / "broken.vhd", "--size", "8M")
    with open(base / "broken.vhd", "r+b") as fh:  # a damaged footer checksum
        fh.seek(-512 + 64, 2)
        fh.write(b"\xff\xff\xff\xff")
    with open(base / "bios.img", "wb") as fh:
        fh.truncate(1024 ** 3)
    diskkit("part", "init", base / "bios.img", "--mbr")
    diskkit("part", "add", base / "bios.img", "--type", "fat32-lba", "--size", "100M",
            "--bootable")
    (base / "esp-tree" / "EFI" / "BOOT").mkdir(parents=True)
    shutil.copy(efi, base / "esp-tree" / "EFI" / "BOOT" / "BOOTX64.EFI")
    shutil.copytree(base / "esp-tree" / "EFI", base / "EFI")
    with open(base / "big.iso", "wb") as fh:
        fh.write(os.urandom(4 * 1024 * 1024))
    (base / "PE.iso").write_bytes(b"CD001 stand-in")  # the VM commands only name it
    # the sample recipe and what it names
    shutil.copy(os.path.join(ROOT, "fixtures", "ramos.toml"), base / "ramos.toml")
    shutil.copytree(os.path.join(ROOT, "fixtures", "drivers"), base / "drivers")
    (base / "ntloader-release").mkdir()  # the recipe's [esp] add names ntloader's two files
    for name in ("ntloader", "initrd.cpio"):
        shutil.copy(base / name, base / "ntloader-release" / name)
    return base


OUTPUT_OPTIONS = ("out", "output", "vmx", "html")


def sandbox(inputs, tmp_path, argvs) -> str:
    """A fresh copy of the inputs without the files the example itself creates; an image
    that gets a new partition table (``part init``) starts blank."""
    work = tmp_path / "w"
    subprocess.run(["cp", "-a", "--sparse=always", str(inputs), str(work)], check=True)
    for argv in argvs:
        try:
            args = parse(argv)
        except SystemExit:  # test_example_parses says why
            continue
        for name in OUTPUT_OPTIONS:
            value = getattr(args, name, None)
            if isinstance(value, str) and os.path.lexists(work / value) and \
                    not getattr(args, "force", False):
                target = work / value
                shutil.rmtree(target) if target.is_dir() else target.unlink()
        if argv[:2] == ["part", "init"] and not args.force:
            image = work / args.image
            size = image.stat().st_size
            image.unlink()
            with open(image, "wb") as fh:
                fh.truncate(size)
    return str(work)


RUNNABLE = [e for e in EXAMPLES if not e.why_not_run()]


@pytest.mark.parametrize("example", RUNNABLE, ids=lambda e: e.where)
def test_example_runs(example, inputs, tmp_path):
    argvs = commands(example)
    work = sandbox(inputs, tmp_path, argvs)
    wrapper = f'diskkit() {{ {shlex.quote(sys.executable)} -m diskkit "$@"; }}\n'
    proc = subprocess.run(["bash", "-c", wrapper + example.text], cwd=work, env=ENV,
                          capture_output=True, text=True, timeout=300)
    checks = any(tuple(w for w in argv if not w.startswith("-"))[:len(c)] == c
                 for argv in argvs for c in CHECKS)
    allowed = {0} | ({1} if checks else set()) | ({2} if example.shows_error else set())
    assert proc.returncode in allowed and "internal error" not in proc.stderr and \
        "Traceback" not in proc.stderr, (
            f"{example.where}: `{example.text}` exited {proc.returncode}\n{proc.stderr[-2000:]}")


# -- the Chinese pages say what the English ones say ----------------------------------------------

def _commands_of(doc: str) -> list[str]:
    """Every example's command lines (comments and --lang dropped), sorted."""
    return sorted(" ".join(a for a in argv if a not in ("--lang", "zh-CN"))
                  for e in extract(doc) for argv in commands(e))


def _codes_of(doc: str) -> set[str]:
    return set(re.findall(r"0xc[0-9a-f]{7}|0x7B", open(doc, encoding="utf-8").read()))


PAIRS = [("docs/ramos.md", "docs/ramos.zh-CN.md"),
         *((p, p[:-3] + ".zh-CN.md") for p in sorted(glob.glob(os.path.join(ROOT, "docs", "chains",
                                                                            "*.md")))
           if not p.endswith(".zh-CN.md"))]


@pytest.mark.parametrize("english,chinese", PAIRS, ids=lambda p: os.path.basename(p))
def test_chinese_page_in_step(english, chinese):
    english, chinese = (os.path.join(ROOT, p) for p in (english, chinese))
    assert os.path.exists(chinese), f"{chinese}: missing"
    assert _commands_of(chinese) == _commands_of(english)
    assert _codes_of(chinese) == _codes_of(english)
    headings = [re.findall(r"^#+ ", open(p, encoding="utf-8").read(), re.M) for p in (english, chinese)]
    assert headings[0] == headings[1]
    text = open(chinese, encoding="utf-8").read()
    assert "平铺" not in text and "重新封装" not in text
    assert os.path.basename(chinese) in open(english, encoding="utf-8").read()  # linked both ways
    assert os.path.basename(english) in text
