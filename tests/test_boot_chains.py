"""Chain renderers and quoting: grub-script-check over hostile titles and paths, exact
offsets in the ntloader and BCD outputs, refusal of dynamic VHDs, the common menu entries."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diskkit.boot import quoting
from diskkit.boot.chains import CHAINS, BootTarget, bcd_entry_id, ramdisk_options_id, render
from diskkit.boot.target import choose_windows_partition
from diskkit.part.types import BASIC_DATA_GUID, ESP_GUID, MSR_GUID
from diskkit.errors import NotFound, Unsupported, UsageError
from support import need_tool
from support.boot import facts, FakePart

GRUB_CHAINS = [name for name, c in CHAINS.items() if c.language == "grub"]

# Printable text without control characters, biased towards what breaks quoting.
HOSTILE = st.text(st.sampled_from(list("ab '\"\\$;&|<>^%!(){}[]#*?~`=,.-_") + ["中", "é", "😀"]),
                  min_size=1, max_size=24)
NAME = HOSTILE.filter(lambda s: not set('<>:"|?*/\\').intersection(s) and s.strip(" .") == s
                      and s not in (".", ".."))


def grub_script_check(text: str) -> subprocess.CompletedProcess:
    tool = need_tool("grub-script-check")
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False, encoding="utf-8") as fh:
        fh.write(text)
    try:
        return subprocess.run([tool, fh.name], capture_output=True, text=True)
    finally:
        os.unlink(fh.name)


def target(path="/ramos/win.vhd", title="RAMOS", **kw):
    return BootTarget.make(facts(**kw), path, title)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=HOSTILE.filter(lambda s: s.strip() and s.strip()[0] not in "-="),
       dirs=st.lists(NAME, max_size=3), name=NAME)
def test_grub_configs_pass_grub_script_check_for_hostile_input(title, dirs, name):
    path = "/" + "/".join([*dirs, name])
    t = BootTarget.make(facts(), path, title)
    for chain, version in [(c, None) for c in GRUB_CHAINS] + [("ntloader", (2, 6))]:
        text = render(chain, t, check_file="/marker.txt", halt=True, grub_version=version).text
        proc = grub_script_check(text)
        assert proc.returncode == 0, (chain, text, proc.stdout, proc.stderr)
        # The title opens the first menu entry's single-quoted word, escaped, nothing lost.
        assert "\nmenuentry " + quoting.grub_word(t.title)[:-1] in text


def test_grub_script_check_catches_bad_quoting():
    """The oracle itself rejects an unbalanced quote, so passing it means something."""
    assert grub_script_check("menuentry 'x' {\n echo 'a\n}\n").returncode != 0


@given(HOSTILE)
def test_grub_word_round_trips_like_sh(value):
    """GRUB's single quotes follow sh: decode with the shell's own rules (shlex) to compare."""
    assert shlex.split(quoting.grub_word(value)) == [value]


@pytest.mark.parametrize("bad", ["a\nb", "tab\there", "cr\r", "nul\x00", "ls\u2028"])
def test_control_characters_refused_everywhere(bad):
    with pytest.raises(UsageError):
        BootTarget.make(facts(), "/ramos/win.vhd", bad)
    with pytest.raises(UsageError):
        BootTarget.make(facts(), f"/ramos/{bad}.vhd", "ok")


@pytest.mark.parametrize("bad", ["ramos/win.vhd", "/", "/a/../b.vhd", "/a/b?.vhd", "/a/b.vhd.",
                                 "/a/b<c.vhd", "C:relative.vhd"])
def test_bad_vhd_paths_refused(bad):
    with pytest.raises(UsageError):
        BootTarget.make(facts(), bad, "t")


def test_drive_letter_and_backslashes_are_split_off():
    t = BootTarget.make(facts(), r"d:\RAM OS\win.vhd", "t")
    assert (t.drive, t.vhd_path) == ("D:", "/RAM OS/win.vhd")


@given(HOSTILE.filter(lambda s: '"' not in s))
def test_cmd_quote_keeps_specials_inside_quotes_and_doubles_percent(value):
    quoted = quoting.cmd_quote(value)
    assert quoted.startswith('"') and quoted.endswith('"') and quoted.count('"') == 2
    # cmd.exe's only transformation inside quotes (delayed expansion off) is %% -> %.
    assert quoted[1:-1].replace("%%", "%") == value


def test_cmd_quote_refuses_double_quote():
    with pytest.raises(UsageError):
        quoting.cmd_quote('say "hi"')


def test_menulst_escapes_spaces_and_backslashes():
    text = render("grub4efi", target("/my dir/win 11.vhd", title=r"A\nB")).text
    assert r"find --set-root /my\ dir/win\ 11.vhd" in text
    assert r"map --mem --top /my\ dir/win\ 11.vhd (hd)" in text
    assert "title A\\\\nB (RAM, SVBus)" in text


def menulst_titles(text: str) -> list[str]:
    """The menu titles GRUB's own menu.lst converter (written by others) reads from ``text``."""
    tool = need_tool("grub-menulst2cfg")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "menu.lst"), os.path.join(tmp, "grub.cfg")
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(text)
        subprocess.run([tool, src, dst], check=True, capture_output=True)
        converted = open(dst, encoding="utf-8").read()
    return [shlex.split(line[len("menuentry "):-2])[0]
            for line in converted.splitlines() if line.startswith("menuentry ")]


@settings(max_examples=30, deadline=None)
@given(HOSTILE.filter(lambda s: "\\" not in s and s.strip() and s.strip()[0] not in "-="))
def test_menulst_titles_read_back_by_grub_menulst2cfg(title):
    """A title runs to the end of its line, whatever it holds (grub4dos doubles backslashes,
    which GRUB legacy's converter does not know, so they are left out here)."""
    text = render("grub4efi", target(title=title)).text
    assert menulst_titles(text) == [f"{title.strip()} (RAM, SVBus)", "Windows (installed on this PC)",
                                    "UEFI firmware (leave grub4efi)", "Reboot"]


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_every_menu_offers_installed_windows_firmware_and_reboot(chain):
    text = render(chain, target(r"D:\ramos\win.vhd")).text
    if CHAINS[chain].language == "grub":
        assert "chainloader '/EFI/Microsoft/Boot/bootmgfw.efi'" in text
        assert "search --no-floppy --set=root --file '/EFI/Microsoft/Boot/bootmgfw.efi'" in text
        assert re.search(r"\{\n\s+fwsetup\n\}", text) and re.search(r"\{\n\s+reboot\n\}", text)
    elif chain == "grub4efi":
        assert "chainloader /EFI/Microsoft/Boot/bootmgfw.efi" in text
        assert "\nexit_g4d\n" in text and "\nreboot\n" in text
    else:  # BCD: the installed Windows stays default, the new entry is added last
        assert "/addlast" in text and "displaybootmenu yes" in text
        assert "shutdown /r /fw" in text


@pytest.mark.parametrize("offset", [1048576, 135266304, 17408, 2**40 + 512])
def test_ntloader_and_bcd_carry_the_exact_offset(offset):
    ntl = render("ntloader", target(offset=offset)).text
    assert re.findall(r"imgofs=(\d+)", ntl) == [str(offset)]
    bcd = render("bootmgr-ramdisk", target(r"D:\ramos\win.vhd", offset=offset)).text
    assert re.findall(r"ramdiskimageoffset (\d+)", bcd) == [str(offset)]
    options = ramdisk_options_id(target(r"D:\ramos\win.vhd", offset=offset))
    assert f'"ramdisk=[D:]\\ramos\\win.vhd,{options}"' in bcd


def test_bcd_script_sets_every_required_element_in_order():
    t = target(r"E:\vhd\win.vhd", title="RAM 100% & more")
    text = render("bootmgr-ramdisk", t).text
    entry = bcd_entry_id(t, "bootmgr-ramdisk")
    options = ramdisk_options_id(t)
    assert options != entry
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    wanted = [f'bcdedit /create {entry} /d "RAM 100%% & more" /application osloader',
              f"bcdedit /set {entry} path \\Windows\\system32\\winload.efi",
              f"bcdedit /set {entry} systemroot \\Windows",
              f"bcdedit /set {entry} detecthal on", f"bcdedit /set {entry} winpe off",
              f"bcdedit /set {options} exportascd false",
              f'bcdedit /create {options} /d "RAM 100%% & more ramdisk options" /device',
              f"rem Undo: bcdedit /delete {entry} & bcdedit /delete {options}"]
    for line in wanted:
        assert line in text, line
    assert text.index(f"{options} ramdiskimageoffset") < text.index(f"/create {entry}")
    # its own device options object: the shared {ramdiskoptions} (a WinPE's) is left alone
    assert "{ramdiskoptions}" not in text


def test_bcd_entry_id_is_stable_and_distinct_per_target():
    a, b = target(r"D:\a.vhd"), target(r"D:\b.vhd")
    assert bcd_entry_id(a, "vhd-native") == bcd_entry_id(target(r"D:\a.vhd"), "vhd-native")
    assert bcd_entry_id(a, "vhd-native") != bcd_entry_id(b, "vhd-native")
    assert bcd_entry_id(a, "vhd-native") != bcd_entry_id(a, "bootmgr-ramdisk")


def test_vhd_native_uses_vhd_device_and_accepts_dynamic():
    text = render("vhd-native", target(r"C:\w\win.vhd", container="dynamic")).text
    assert 'device "vhd=[C:]\\w\\win.vhd"' in text and "ramdisk" not in text


@pytest.mark.parametrize("chain", ["ntloader", "bootmgr-ramdisk", "loopback-test"])
def test_chains_reading_the_file_flat_refuse_dynamic_vhd(chain):
    with pytest.raises(Unsupported, match="fixed"):
        render(chain, target(container="dynamic"))


@pytest.mark.parametrize("chain", ["grub2-map", "grub4efi"])
def test_chains_expanding_a_dynamic_vhd_say_what_it_buys_and_costs(chain):
    (note,) = [w for w in render(chain, target(container="dynamic")).warnings if "dynamic" in w]
    assert "smaller file to read at boot" in note and "full virtual size" in note
    assert ("vhd module" in note) == (chain == "grub2-map")


def test_warnings_for_missing_esp_raw_image_and_missing_drive():
    assert any("EFI System Partition" in w for w in render("grub2-map", target(esp=None)).warnings)
    assert any("raw image" in w for w in render("grub4efi", target(container="raw")).warnings)
    assert any("drive letter" in w for w in render("bootmgr-ramdisk", target()).warnings)


def test_leading_dash_titles_refused():
    for bad in ("--class evil", "=x", "   "):
        with pytest.raises(UsageError):
            target(title=bad)


def test_loopback_test_addresses_partitions_by_table_kind():
    text = render("loopback-test", target(table="mbr"), check_file="/m.txt").text
    assert "cat (vhd_loop,msdos3)'/m.txt'" in text
    assert "chainloader (vhd_loop,msdos1)/EFI/BOOT/BOOTX64.EFI" in text


# -- choosing the Windows partition --------------------------------------------------------------

def test_windows_partition_is_basic_data_else_largest_other():
    parts = [FakePart(1, 1 << 20, 100 << 20, ESP_GUID), FakePart(2, 101 << 20, 16 << 20, MSR_GUID),
             FakePart(3, 117 << 20, 500 << 20, BASIC_DATA_GUID),
             FakePart(4, 617 << 20, 900 << 20, "0fc63daf-8483-4772-8e79-3d69d8477de4")]
    assert choose_windows_partition(parts).index == 3
    assert choose_windows_partition([parts[0], parts[1], parts[3]]).index == 4
    assert choose_windows_partition(parts, override=1).index == 1
    with pytest.raises(NotFound):
        choose_windows_partition(parts, override=9)
    with pytest.raises(NotFound):
        choose_windows_partition(parts[:2])
    mbr = [FakePart(1, 1 << 20, 100 << 20, type_code=0xEF), FakePart(2, 101 << 20, 5 << 20, type_code=0x05),
           FakePart(3, 200 << 20, 50 << 20, type_code=0x07)]
    assert choose_windows_partition(mbr).index == 3


def test_chain_facts_drive_the_ramos_layout_and_refuse_non_ramos_chains():
    from diskkit.boot.chains import RAMOS_CHAINS, get_chain, ramos_chain
    from diskkit.ramos.layout import layout_for

    assert "loopback-test" not in RAMOS_CHAINS
    with pytest.raises(UsageError, match="boots no RAMOS image"):
        ramos_chain("loopback-test")
    for name in RAMOS_CHAINS:
        chain = get_chain(name)
        assert layout_for(name, 1 << 30).table == chain.vhd_table
        assert chain.needs_svbus == (name in ("grub2-map", "grub4efi"))
        assert chain.ms_ramdisk == (name in ("ntloader", "bootmgr-ramdisk"))
        assert chain.in_ram == (name != "vhd-native")


# -- ntloader: the form the GRUB in hand can start -------------------------------------------------

def ntloader_line(text: str) -> list[str]:
    """The words GRUB passes for the line that loads ntloader (GRUB quoting = sh quoting)."""
    (line,) = [ln.strip() for ln in text.splitlines()
               if re.match(r"\s*(linux|chainloader) '/EFI/ntloader/ntloader'", ln)]
    return shlex.split(line.replace('"uuid=$vhd_uuid"', "uuid=UUID"))


def test_ntloader_linux_form_for_grub_212_and_chainloader_form_below():
    t = target("/RAM OS/win 11.vhd", offset=1048576)
    new = render("ntloader", t, grub_version=(2, 12))
    assert ntloader_line(new.text) == ["linux", "/EFI/ntloader/ntloader", "uuid=UUID",
                                       "ram=/RAM:OS/win:11.vhd", "imgofs=1048576"]
    assert "\n    initrd '/EFI/ntloader/initrd.cpio'\n" in new.text and not new.warnings
    old = render("ntloader", t, grub_version=(2, 6))
    assert ntloader_line(old.text) == ["chainloader", "/EFI/ntloader/ntloader",
                                       "initrd=/EFI/ntloader/initrd.cpio", "uuid=UUID",
                                       "ram=/RAM:OS/win:11.vhd", "imgofs=1048576"]
    assert "initrd '" not in old.text and not old.warnings
    unknown = render("ntloader", t)
    assert unknown.text == new.text and any("--grub-version" in w for w in unknown.warnings)


def test_ntloader_warns_on_non_ascii_paths_only_below_grub_212():
    t = target("/系统/win.vhd")
    assert any("ASCII" in w for w in render("ntloader", t, grub_version=(2, 6)).warnings)
    assert not render("ntloader", t, grub_version=(2, 12)).warnings


def test_ntloader_loader_args_are_appended_quoted():
    text = render("ntloader", target(), grub_version=(2, 12), loader_args=["pause", "a b"]).text
    assert ntloader_line(text)[-2:] == ["pause", "a b"]


def test_config_form_checked_against_the_grub_that_runs_it():
    from diskkit.boot.chains import check_config

    linux = render("ntloader", target(), grub_version=(2, 12)).text
    chain = render("ntloader", target(), grub_version=(2, 6)).text
    with pytest.raises(UsageError, match="--grub-version 2.06"):
        check_config("ntloader", linux, (2, 6))
    assert check_config("ntloader", linux, (2, 12)) == []
    assert check_config("ntloader", chain, (2, 6)) == []
    assert "never seen working" in check_config("ntloader", chain, (2, 12))[0]
    assert check_config("ntloader", linux, None) == []


# -- facts other parts of diskkit read -----------------------------------------------------------

def test_size_warning_names_0xc00000bb_from_4_gib_on_microsoft_ramdisk_chains_only():
    from diskkit.boot.chains import size_warning

    for chain in ("ntloader", "bootmgr-ramdisk"):
        assert size_warning(chain, (4 << 30) - (1 << 20)) is None
        text = size_warning(chain, 4 << 30)
        assert "0xc00000bb" in text and "grub2-map and grub4efi" in text and "3,990 MiB" in text
    for chain in ("grub2-map", "grub4efi", "vhd-native"):
        assert size_warning(chain, 40 << 30) is None
    assert any("0xc00000bb" in w for w in render("ntloader", target()).warnings) is False


def test_ntloader_version_note_is_a_chain_fact():
    from diskkit.boot.chains import NTLOADER_VERSION_NOTE, get_chain

    assert NTLOADER_VERSION_NOTE in get_chain("ntloader").notes
    assert "3.0.0" in NTLOADER_VERSION_NOTE and "Unrecognised argument" in NTLOADER_VERSION_NOTE
    assert get_chain("ntloader").esp_files == ("/EFI/ntloader/ntloader", "/EFI/ntloader/initrd.cpio")
