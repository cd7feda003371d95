"""Messages in the user's language: the catalogues cover every RAMOS message, with the same
placeholders, and `--lang zh-CN` / the locale pick Chinese."""

from __future__ import annotations

import ast
import glob
import os
import re
import string
import subprocess
import sys

import pytest

from diskkit import i18n
from support import ENV

ROOT = os.path.join(os.path.dirname(__file__), "..")
# Every module whose messages a RAMOS user reads; each tr() there must be translated.
TRANSLATED = [*glob.glob(os.path.join(ROOT, "diskkit", "ramos", "*.py")),
              *(os.path.join(ROOT, "diskkit", "cli", name)
                for name in ("ramos.py", "common.py", "__main__.py")),
              os.path.join(ROOT, "diskkit", "htmlreport.py"),
              os.path.join(ROOT, "diskkit", "boot", "chains.py"),
              os.path.join(ROOT, "diskkit", "boot", "efiapp.py")]


def chain_notes() -> list[str]:
    from diskkit.boot.chains import RAMOS_CHAINS, get_chain

    return [note for name in RAMOS_CHAINS for note in get_chain(name).notes]


# Message ids passed as a variable: the values they take.
def dynamic_vhd_words() -> list[str]:
    from diskkit.boot.chains import DYNAMIC_VHD_TRADE, RAMOS_CHAINS, get_chain

    return [DYNAMIC_VHD_TRADE, *filter(None, (get_chain(c).dynamic_needs for c in RAMOS_CHAINS))]


def doctor_words() -> list[str]:
    from diskkit.ramos import doctor
    from diskkit.ramos.windows import SLIM_SERVICES

    return [*doctor.SECTION_TITLES.values(), doctor.PASS, doctor.INFO, doctor.WARN, doctor.FAIL,
            *(why for _, _, _, why in SLIM_SERVICES)]


DYNAMIC = {"ramos.py": lambda: ["info", "ran", "skipped", "would run", "done", "windows"],
           "plan.py": chain_notes, "doctor.py": doctor_words, "chains.py": dynamic_vhd_words}


def message_ids():
    for path in TRANSLATED:
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            func = getattr(node, "func", None)
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if isinstance(node, ast.Call) and name == "tr" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant):
                    yield path, arg.value
                else:
                    yield from ((path, m) for m in DYNAMIC[os.path.basename(path)]())


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_ramos_message_has_chinese_with_the_same_placeholders():
    zh = i18n.catalogue("zh-CN")
    ids = list(message_ids())
    assert len(ids) > 40
    missing = [m for _, m in ids if m not in zh]
    assert not missing, missing
    for _, message in ids:
        assert fields(zh[message]) == fields(message), message
    unused = set(zh) - {m for _, m in ids}
    assert not unused, f"catalogue entries nothing uses: {unused}"


def test_chinese_uses_this_audience_s_words():
    text = "\n".join(i18n.catalogue("zh-CN").values())
    assert "平铺" not in text and "重新封装" not in text
    prose = re.sub(r"`[^`]*`", "", text)  # commands keep their own quotes
    assert '"' not in prose and "'" not in prose  # full-width quotes “ ” in Chinese text


@pytest.mark.parametrize("env,platform,want", [
    ({"LANG": "zh_CN.UTF-8"}, "linux", "zh-CN"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "linux", "en"),
    ({"DISKKIT_LANG": "zh-CN", "LC_ALL": "C"}, "linux", "zh-CN"),
    ({"LC_MESSAGES": "zh_SG.gbk"}, "linux", "zh-CN"),
    ({"LANG": "en_US.UTF-8"}, "linux", "en"),
    ({}, "linux", "en"),
])
def test_language_from_the_environment(env, platform, want):
    assert i18n.detect(env, platform) == want


def test_tr_falls_back_to_english_and_fills_values():
    try:
        i18n.set_language("zh-CN")
        assert i18n.tr("RAM left") == "剩余内存"
        assert i18n.tr("no such message {x}", x=1) == "no such message 1"
        assert i18n.tr("next steps:") == "下一步："
        i18n.set_language("en")
        assert i18n.tr("RAM left") == "RAM left"
    finally:
        i18n.set_language(None)


def cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "diskkit", *args], capture_output=True,
                          text=True, env={**ENV, **env})


def test_plan_in_chinese_by_option_and_by_locale():
    args = ["ramos", "plan", "--vhd-size", "5G", "--ram", "8G", "--chain", "ntloader"]
    zh = cli(*args, "--lang", "zh-CN")
    assert zh.returncode == 0, zh.stderr
    assert "剩余内存" in zh.stdout and "读入时间" in zh.stdout and "警告：内存 8 GiB" in zh.stdout
    assert "0xc0000017" in zh.stdout
    by_locale = cli(*args, DISKKIT_LANG="zh-CN")
    assert by_locale.stdout == zh.stdout
    assert cli("--lang", "zh-CN", *args).stdout == zh.stdout
    en = cli(*args)
    assert "RAM left" in en.stdout and "剩余内存" not in en.stdout
    # the values start in one column on a terminal (CJK characters are two columns wide)
    from diskkit.ramos.plan import display_width

    columns = set()
    for line in zh.stdout.splitlines()[:7]:
        label, value = re.match(r"^(\S+(?: \S+)?)\s{2,}(\S.*)$", line).groups()
        columns.add(display_width(line) - display_width(value))
    assert len(columns) == 1


def test_errors_and_warnings_in_chinese(tmp_path):
    err = cli("ramos", "plan", "--vhd-size", "20G", "--ram", "16G", "--lang", "zh-CN")
    assert err.returncode == 2
    assert err.stderr.startswith("diskkit: 错误: ")
    assert "放不进 16 GiB 内存" in err.stderr and "12 GiB" in err.stderr
    warn = cli("ramos", "script", "deploy", "--vhd", "D:\\r\\w.vhd", "--wim", "install.wim",
               "--index", "1", "--chain", "grub4efi", "--out", str(tmp_path / "d.cmd"),
               "--lang", "zh-CN")
    assert "diskkit: 警告: grub4efi 方案需要在镜像里装 SVBus 驱动" in warn.stderr
    assert "已写入" in warn.stderr


def test_boot_facts_doctor_quotes_are_translated_too():
    """Sentences doctor takes from the boot layer (why a loader is no EFI application, a
    chain's dynamic-VHD and size facts) follow the language."""
    from diskkit.boot.chains import dynamic_note, size_warning
    from diskkit.boot.efiapp import describe

    try:
        i18n.set_language("zh-CN")
        assert describe(b"not a program" * 10) == "不是 PE/COFF 程序（没有 MZ 头）"
        assert "动态 VHD" in dynamic_note("grub2-map") and "vhd 模块" in dynamic_note("grub2-map")
        assert "0xc00000bb" in size_warning("ntloader", 4 << 30)
        assert "微软" in size_warning("ntloader", 4 << 30)
    finally:
        i18n.set_language(None)
