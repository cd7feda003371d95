"""The grub4dos menu.lst diskkit writes, read back with grub4dos's own parsing rules.

grub4dos is not a Debian package, so this is a model of how chenall/grub4dos reads a command
line (stage2/cmdline.c): ``find_command`` takes the word up to a space, tab or '='; the
arguments start after it, skipping spaces, tabs and '='; ``skip_to`` ends a word at an
unquoted space or tab, with '"' grouping and '\\' taking the next character literally;
``run_line`` splits a line into several commands at words starting with ``&&``, ``||``,
``! ``, ``|``, ``>`` or ``>>``. A title runs to the end of its line, ``\\\\`` standing for one
backslash (``\\n`` would start a help line). Hostile titles and paths must come back exactly.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from support.boot import facts
from diskkit.boot.chains import BootTarget, render

SEPARATORS = ("&&", "||", "! ", "|", ">")


def words(text: str) -> list[str]:
    """grub4dos's skip_to over ``text``: the raw words, escapes and quotes still in them."""
    out, i = [], 0
    while i < len(text):
        while i < len(text) and text[i] in " \t":
            i += 1
        start = i
        while i < len(text) and text[i] not in " \t":
            if text[i] == '"':
                i = text.find('"', i + 1)
                i = len(text) if i < 0 else i
            elif text[i] == "\\":
                i += 1
            i += 1
        if i > start:
            out.append(text[start:i])
    return out


def unescape(word: str) -> str:
    out, i = [], 0
    while i < len(word):
        if word[i] == "\\" and i + 1 < len(word):
            i += 1
        out.append(word[i])
        i += 1
    return "".join(out)


def parse(menu: str) -> list[tuple[str, list[list[str]]]]:
    """(title, [command words unescaped]) per entry; asserts no line splits into two commands."""
    entries = []
    for line in menu.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("title "):
            entries.append((line[len("title "):].replace("\\\\", "\\"), []))
            continue
        end = next((i for i, c in enumerate(line) if c in " \t="), len(line))
        command, rest = line[:end], line[end:].lstrip(" \t=")
        args = words(rest)
        for word in args:
            assert not (word + " ").startswith(SEPARATORS), (line, word)
        if entries:
            entries[-1][1].append([command, *map(unescape, args)])
    return entries


# Names FAT/NTFS accept (no / \ : * ? " < > |), with what grub4dos treats specially.
NAME = st.text(st.sampled_from(list("ab Z9'&!()[]{};,=+-_~#.$") + ["é", "中"]), min_size=1,
               max_size=16).filter(lambda s: s.strip(" .") == s and s not in (".", ".."))
TITLE = st.text(st.sampled_from(list("ab Z9'\"&!|<>()\\%$;=-") + ["中"]), min_size=1, max_size=20) \
    .filter(lambda s: s.strip() and s.strip()[0] not in "-=")


@settings(max_examples=200, deadline=None)
@given(dirs=st.lists(NAME, max_size=3), name=NAME, title=TITLE)
def test_menulst_round_trips_through_grub4dos_rules(dirs, name, title):
    path = "/" + "/".join([*dirs, name])
    target = BootTarget.make(facts(), path, title)
    entries = parse(render("grub4efi", target).text)
    assert entries[0] == (f"{target.title} (RAM, SVBus)", [
        ["find", "--set-root", path],
        ["map", "--mem", "--top", path, "(hd)"],
        ["chainloader", "(hd-1)"]])
    assert [t for t, _ in entries[1:]] == ["Windows (installed on this PC)",
                                          "UEFI firmware (leave grub4efi)", "Reboot"]
    assert entries[1][1] == [["find", "--set-root", "/EFI/Microsoft/Boot/bootmgfw.efi"],
                             ["chainloader", "/EFI/Microsoft/Boot/bootmgfw.efi"]]


def test_model_sees_what_an_unescaped_space_or_separator_would_break():
    """The model is strict enough to catch the mistakes it exists for."""
    assert words(r"/my\ dir/a b") == [r"/my\ dir/a", "b"]
    assert [unescape(w) for w in words(r"/my\ dir/x.vhd (hd)")] == ["/my dir/x.vhd", "(hd)"]
    try:
        parse("title t\nfind --set-root /a && reboot\n")
    except AssertionError:
        pass
    else:
        raise AssertionError("a && word must be flagged")
