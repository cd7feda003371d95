"""RAMOS plan arithmetic, layouts, and the generated Windows scripts checked line by line."""

import json
import types

import pytest
from hypothesis import given, strategies as st

from diskkit.errors import DiskkitError, UsageError
from diskkit.boot.chains import RAMOS_CHAINS as CHAINS
from diskkit.ramos.layout import GPT_BACKUP, layout_for
from diskkit.ramos.plan import make_plan
from diskkit.ramos.windows import (DeployOptions, LogFile, Quoted, Step, deploy_script,
                                   render_cmd, run_steps, slim_script)
from diskkit.units import GiB, MiB
from support import diskkit

WIN_OFFSET_GPT = (1 + 100 + 16) * MiB  # ESP 100 MiB at 1 MiB, MSR 16 MiB, then Windows


def test_plan_numbers_and_warnings():
    plan = make_plan(5 * GiB, 16 * GiB, 1e9, "grub2-map")
    assert plan.file_size == 5 * GiB + 512
    assert plan.ram_disk == plan.file_size
    assert plan.ram_left == 16 * GiB - plan.file_size
    assert plan.load_seconds == pytest.approx((5 * GiB + 512) / 1e9)
    assert plan.max_vhd_for_ram == 12 * GiB
    assert plan.layout.windows.start == WIN_OFFSET_GPT
    assert not any("below VHD size + 4 GiB" in w for w in plan.warnings)
    assert any("SVBus" in n and "0x7B" in n for n in plan.notes)
    assert any("NTFS or exFAT" in n for n in plan.notes)  # a 5 GiB file: not on FAT32

    tight = make_plan(5 * GiB, 8 * GiB, 500e6, "ntloader", "dynamic")
    assert any("below VHD size + 4 GiB" in w for w in tight.warnings)
    assert any("dynamic VHD" in w and "flat disk" in w for w in tight.warnings)
    assert tight.load_seconds == pytest.approx((5 * GiB + 512) / 500e6)
    assert not any("SVBus" in n for n in tight.notes + tight.warnings)
    assert any("ntloader v3.0.0" in n for n in tight.notes)
    assert any("0xc00000bb" in w and "grub2-map and grub4efi carried 5 GiB" in w
               for w in tight.warnings)
    small = make_plan(3990 * MiB, 16 * GiB, chain="bootmgr-ramdisk")
    assert not any("0xc00000bb" in w for w in small.warnings)
    assert not any("NTFS or exFAT" in n for n in small.notes)
    assert any("0xc00000bb" in w for w in make_plan(4 * GiB, 16 * GiB,
                                                    chain="bootmgr-ramdisk").warnings)
    grub4efi = make_plan(5 * GiB, 16 * GiB, chain="grub4efi", vhd_type="dynamic")
    assert any("expands a dynamic VHD" in n for n in grub4efi.notes)
    assert not any("flat disk" in w for w in grub4efi.warnings)
    with pytest.raises(UsageError, match="does not fit in 8 GiB of RAM: the largest VHD for "
                       "this RAM is 4 GiB"):
        make_plan(8 * GiB, 8 * GiB)
    assert any("42 GiB" in w for w in make_plan(50 * GiB, 128 * GiB, chain="grub4efi").warnings)
    assert not any("known to have loaded" in w for w in make_plan(5 * GiB, 16 * GiB).warnings)
    assert any("above 5 GiB is known to have loaded through grub2-map" in w
               for w in make_plan(6 * GiB, 16 * GiB).warnings)

    native = make_plan(20 * GiB, 8 * GiB, chain="vhd-native")
    assert native.ram_disk == 0 and native.ram_left == 8 * GiB
    assert not any("RAM" in w for w in native.warnings)
    with pytest.raises(UsageError):
        make_plan(5 * GiB, 0)
    with pytest.raises(UsageError):
        make_plan(5 * GiB + 1, 16 * GiB)


@given(st.integers(min_value=200, max_value=2040 * 1024), st.sampled_from(CHAINS))
def test_layout_is_aligned_and_fits(mib, chain):
    size = mib * MiB
    try:
        layout = layout_for(chain, size)
    except UsageError:
        assert mib < 140
        return
    end = size if layout.table == "mbr" else size - GPT_BACKUP
    previous_end = MiB
    for part in layout.partitions:
        assert part.start % MiB == 0 and part.size % MiB == 0
        assert part.start >= previous_end
        previous_end = part.end
    assert previous_end <= end
    assert layout.windows.start == (MiB if chain in ("ntloader", "bootmgr-ramdisk") else WIN_OFFSET_GPT)


def test_plan_cli_json_and_text():
    data = json.loads(diskkit("ramos", "plan", "--vhd-size", "5G", "--ram", "16G", "--ssd-read",
                              "1GB/s", "--chain", "ntloader", "--json").stdout)
    assert data["layout"]["windows_offset"] == MiB and data["load_seconds"] == 5.37
    text = diskkit("ramos", "plan", "--vhd-size", "5G", "--ram", "8G").stdout
    assert "load time        5.4 s at 1 GB/s" in text and "warning: RAM 8 GiB" in text
    bad = diskkit("ramos", "plan", "--vhd-size", "5G", "--ram", "8G", "--ssd-read", "fast",
                  check=False)
    assert bad.returncode == 2


def one_error(*args) -> str:
    proc = diskkit(*args, check=False)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    return proc.stderr


def test_plan_refuses_what_cannot_work_and_says_what_would():
    err = one_error("ramos", "plan", "--vhd-size", "20G", "--ram", "16G")
    assert "20 GiB VHD does not fit in 16 GiB of RAM" in err and "largest VHD for this RAM is 12 GiB" in err
    ms = one_error("ramos", "plan", "--vhd-size", "20G", "--ram", "16G", "--chain", "ntloader")
    assert "0xc0000017" in ms and "create a ramdisk device" in ms
    assert "cannot hold a RAMOS" in one_error("ramos", "plan", "--vhd-size", "2G", "--ram", "2G")
    # a file-backed chain needs no RAM for the disk
    assert diskkit("ramos", "plan", "--vhd-size", "20G", "--ram", "8G", "--chain",
                   "vhd-native").returncode == 0
    speed = one_error("ramos", "plan", "--vhd-size", "5G", "--ram", "16G", "--ssd-read", "1000")
    assert "give a unit, e.g. 1000MB/s" in speed
    assert "9.8 s at 550 MB/s" in diskkit("ramos", "plan", "--vhd-size", "5G", "--ram", "16G",
                                          "--ssd-read", "550MB/s").stdout


@pytest.mark.parametrize("size,hint", [
    ("5", "did you mean 5G? A size without a unit is bytes"),
    ("4GB", "did you mean 4G (4 binary GiB)?"),
    ("500MB", "did you mean 500M (500 binary MiB)?"),
    ("1048577", "the nearest valid size is 1M"),
    ("3000000001", "the nearest valid size is 2861M"),
])
def test_sizes_that_are_not_whole_mib_get_a_suggestion(size, hint):
    for args in (["ramos", "plan", "--vhd-size", size, "--ram", "64G"],
                 ["ramos", "init", "never.vhd", "--size", size]):
        err = one_error(*args)
        assert "not a whole number of MiB" in err and hint in err


def test_plan_names_the_ram_rule_error_beside_it():
    text = diskkit("ramos", "plan", "--vhd-size", "3G", "--ram", "16G", "--chain",
                   "bootmgr-ramdisk").stdout
    assert "(RAM - 4 GiB rule); with less RAM the boot manager stops with 0xc0000017" in text
    tight = diskkit("ramos", "plan", "--vhd-size", "3G", "--ram", "6G", "--chain",
                    "ntloader").stdout
    assert "shrink the VHD to 2 GiB or add RAM; the boot manager shows 0xc0000017" in tight
    svbus = diskkit("ramos", "plan", "--vhd-size", "3G", "--ram", "16G").stdout
    assert "0xc0000017" not in svbus


# -- deploy script -------------------------------------------------------------------------------

def lines_of(script):
    text = render_cmd(script)
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    return text.split("\r\n")


def step_lines(lines, key):
    """The command lines of one step: after its echo, up to and including its check."""
    start = lines.index(f'set "DK_STEP={key}"') + 2
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("if %errorlevel%"))
    return lines[start:end + 1]


def test_deploy_svbus_chain_exact_commands():
    opts = DeployOptions(vhd="D:\\RAM OS\\系统 100%.vhd", wim="E:\\sources\\install.wim", index=6,
                         drivers="D:\\drv (x86) & co", svbus="D:\\svbus")
    lines = lines_of(deploy_script(opts))
    assert lines[:2] == ["@echo off", "rem diskkit RAMOS deploy"]
    assert "chcp 65001 >nul" in lines
    assert 'set "DK_LOG=%~dp0diskkit-logs"' in lines
    assert "net session >nul 2>&1 || (echo Run this script as administrator. & exit /b 1)" in lines
    dp = '"%DK_LOG%\\diskpart-attach.txt"'
    assert step_lines(lines, "attach") == [
        f'> {dp} echo select vdisk file="D:\\RAM OS\\系统 100%%.vhd"',
        f">> {dp} echo attach vdisk",
        f">> {dp} echo select partition 1",
        f'>> {dp} echo format quick fs=fat32 label="System"',
        f">> {dp} echo assign letter=S",
        f">> {dp} echo select partition 3",
        f'>> {dp} echo format quick fs=ntfs label="Windows"',
        f">> {dp} echo assign letter=V",
        f"diskpart /s {dp}",
        'if %errorlevel% neq 0 (set "DK_RC=%errorlevel%" & goto fail)',
    ]
    check = 'if %errorlevel% neq 0 (set "DK_RC=%errorlevel%" & goto fail)'
    assert step_lines(lines, "apply") == [
        'dism /English /LogPath:"%DK_LOG%\\dism-apply.log" /Apply-Image '
        '/ImageFile:"E:\\sources\\install.wim" /Index:6 /ApplyDir:V:\\ /Compact', check]
    assert step_lines(lines, "drivers") == [
        'dism /English /LogPath:"%DK_LOG%\\dism-drivers.log" /Image:V:\\ /Add-Driver '
        '/Driver:"D:\\drv (x86) & co" /Recurse', check]
    assert step_lines(lines, "svbus") == [
        'dism /English /LogPath:"%DK_LOG%\\dism-svbus.log" /Image:V:\\ /Add-Driver '
        '/Driver:"D:\\svbus" /Recurse /ForceUnsigned', check]
    assert step_lines(lines, "reg-load-system") == [
        'reg load HKLM\\DISKKIT_SYSTEM "V:\\Windows\\System32\\config\\SYSTEM"', check]
    for svc in ("storahci", "stornvme"):
        key = f"HKLM\\DISKKIT_SYSTEM\\ControlSet001\\Services\\{svc}"
        assert step_lines(lines, f"boot-start-{svc}") == [
            f'reg add "{key}" /v Start /t REG_DWORD /d 0 /f', check]
        assert step_lines(lines, f"no-override-{svc}") == [
            f'reg delete "{key}\\StartOverride" /f',
            'if %errorlevel% neq 0 if %errorlevel% neq 1 (set "DK_RC=%errorlevel%" & goto fail)']
    assert step_lines(lines, "hibernation-off") == [
        'reg add "HKLM\\DISKKIT_SYSTEM\\ControlSet001\\Control\\Power" /v HibernateEnabled '
        '/t REG_DWORD /d 0 /f', check]
    assert step_lines(lines, "pagefile-off") == [
        'reg add "HKLM\\DISKKIT_SYSTEM\\ControlSet001\\Control\\Session Manager\\Memory '
        'Management" /v PagingFiles /t REG_MULTI_SZ /d "" /f', check]
    assert step_lines(lines, "reg-unload-system") == ["reg unload HKLM\\DISKKIT_SYSTEM", check]
    assert step_lines(lines, "restore-off") == [
        'reg add "HKLM\\DISKKIT_SOFTWARE\\Policies\\Microsoft\\Windows NT\\SystemRestore" '
        '/v DisableSR /t REG_DWORD /d 1 /f', check]
    assert step_lines(lines, "bcdboot") == ["bcdboot V:\\Windows /s S: /f UEFI", check]
    dd = '"%DK_LOG%\\diskpart-detach.txt"'
    assert step_lines(lines, "detach") == [
        f'> {dd} echo select vdisk file="D:\\RAM OS\\系统 100%%.vhd"',
        f">> {dd} echo detach vdisk", f"diskpart /s {dd}", check]
    order = [l[len('set "DK_STEP='):-1] for l in lines if l.startswith('set "DK_STEP=')]
    assert order == ["attach", "apply", "drivers", "svbus", "reg-load-system",
                     "boot-start-storahci", "no-override-storahci", "boot-start-stornvme",
                     "no-override-stornvme", "hibernation-off", "pagefile-off",
                     "reg-unload-system", "reg-load-software", "restore-off",
                     "reg-unload-software", "bcdboot", "detach"]
    fail = lines[lines.index(":fail"):]
    assert "reg unload HKLM\\DISKKIT_SYSTEM >nul 2>&1" in fail
    assert f"diskpart /s {dd} >nul 2>&1" in fail and fail[-2:] == ["exit /b 1", ""]
    # the log folder (beside the script, any name) only ever appears inside quotes
    assert all('"%DK_LOG%' in line for line in lines if "%DK_LOG%" in line)
    # every % from the user is doubled, also in comments; only our own variables stay single
    for line in lines:
        stripped = line.replace("%%", "")
        for var in ("%DK_LOG%", "%DK_STEP%", "%DK_RC%", "%errorlevel%", "%~dp0"):
            stripped = stripped.replace(var, "")
        assert "%" not in stripped, line


def test_deploy_ramdisk_chain_and_skips():
    opts = DeployOptions(vhd="D:\\ramos\\win.vhd", wim="install.wim", index=1, chain="ntloader",
                         windows_letter="W", esp_letter="T", format=False, apply=False)
    lines = lines_of(deploy_script(opts))
    dp = '"%DK_LOG%\\diskpart-attach.txt"'
    assert step_lines(lines, "attach")[:-2] == [
        f'> {dp} echo select vdisk file="D:\\ramos\\win.vhd"', f">> {dp} echo attach vdisk",
        f">> {dp} echo select partition 1", f">> {dp} echo assign letter=W"]
    assert 'set "DK_STEP=apply"' not in lines
    assert step_lines(lines, "bcdboot")[0] == "bcdboot W:\\Windows /s W: /f BIOS"
    assert 'reg load HKLM\\DISKKIT_SYSTEM "W:\\Windows\\System32\\config\\SYSTEM"' in lines
    with pytest.raises(UsageError):
        deploy_script(DeployOptions("D:\\a.vhd", "x.wim", 1, chain="ntloader", svbus="D:\\s"))
    for bad in (dict(index=0), dict(vhd='D:\\a"b.vhd'), dict(vhd="D:\\a\nb.vhd"),
                dict(windows_letter="S"), dict(chain="nope")):
        with pytest.raises(UsageError):
            deploy_script(DeployOptions(**{**dict(vhd="D:\\a.vhd", wim="x.wim", index=1), **bad}))


def test_slim_script_exact_commands():
    lines = lines_of(slim_script(remove_apps=True))
    check = 'if %errorlevel% neq 0 (set "DK_RC=%errorlevel%" & goto fail)'
    assert step_lines(lines, "hibernation-off") == ["powercfg /h off", check]
    assert step_lines(lines, "component-cleanup") == [
        'dism /English /LogPath:"%DK_LOG%\\dism-cleanup.log" /Online /Cleanup-Image '
        "/StartComponentCleanup /ResetBase",
        'if %errorlevel% neq 0 if %errorlevel% neq 3010 (set "DK_RC=%errorlevel%" & goto fail)']
    assert step_lines(lines, "compact-os") == ["compact /CompactOS:always", check]
    not_installed = 'if %errorlevel% neq 0 if %errorlevel% neq 1060 (set "DK_RC=%errorlevel%" & goto fail)'
    assert step_lines(lines, "search-off") == ["sc config WSearch start= disabled", not_installed]
    assert step_lines(lines, "sysmain-off") == ["sc config SysMain start= disabled", not_installed]
    ps = step_lines(lines, "remove-apps")[0]
    assert ps.startswith('powershell -NoProfile -ExecutionPolicy Bypass -Command "'
                         "$ErrorActionPreference='Stop'; Get-AppxProvisionedPackage -Online |")
    assert ps.endswith('| Remove-AppxProvisionedPackage -Online"')
    assert ps.count('"') == 2  # the pipes stay inside the quotes, away from cmd
    assert any(l.startswith("rem   ") for l in lines)  # every step explained
    assert 'set "DK_STEP=remove-apps"' not in lines_of(slim_script())


def test_run_steps_judges_exit_codes(tmp_path):
    calls = []

    def runner(argv):
        calls.append(argv)
        return {"bad": 5, "soft": 1}.get(argv[0], 0)

    script = types.SimpleNamespace(
        needs_admin=True, cleanup=[Step("undo", [], ["undo"])],
        steps=[Step("a", [], ["tool", Quoted("C:\\x y\\f", "/P:"), LogFile("l.log", "/Log:")]),
               Step("b", [], ["soft"], ok_codes=(0, 1)),
               Step("dp", [], diskpart=["select vdisk file=\"C:\\v.vhd\"", "attach vdisk"]),
               Step("c", [], ["bad"]), Step("never", [], ["never"])])
    with pytest.raises(DiskkitError, match="step c failed with exit code 5"):
        run_steps(script, str(tmp_path), runner=runner, admin_check=lambda p: True, echo=lambda m: 0)
    assert calls[0] == ["tool", "/P:C:\\x y\\f", "/Log:" + str(tmp_path / "l.log")]
    assert calls[2] == ["diskpart", "/s", str(tmp_path / "diskpart-dp.txt")]
    assert (tmp_path / "diskpart-dp.txt").read_bytes() == \
        b'select vdisk file="C:\\v.vhd"\r\nattach vdisk\r\n'
    assert [c[0] for c in calls] == ["tool", "soft", "diskpart", "bad", "undo"]
    with pytest.raises(UsageError, match="administrator"):
        run_steps(script, str(tmp_path), runner=runner, admin_check=lambda p: False)
    calls.clear()  # the real deploy steps reach the runner as plain arguments
    real = deploy_script(DeployOptions("D:\\v 1.vhd", "C:\\w.wim", 2, drivers="D:\\d x"))
    run_steps(real, str(tmp_path), runner=runner, admin_check=lambda p: True, echo=lambda m: 0)
    assert ["reg", "add", "HKLM\\DISKKIT_SYSTEM\\ControlSet001\\Control\\Session Manager\\"
            "Memory Management", "/v", "PagingFiles", "/t", "REG_MULTI_SZ", "/d", "", "/f"] in calls
    assert ["dism", "/English", "/LogPath:" + str(tmp_path / "dism-apply.log"), "/Apply-Image",
            "/ImageFile:C:\\w.wim", "/Index:2", "/ApplyDir:V:\\", "/Compact"] in calls
    assert (tmp_path / "diskpart-attach.txt").read_text().startswith('select vdisk file="D:\\v 1.vhd"')


def test_script_cli(tmp_path):
    out = tmp_path / "deploy.cmd"
    diskkit("ramos", "script", "deploy", "--vhd", "D:\\ramos\\win.vhd", "--wim", "E:\\install.wim",
            "--index", "3", "--out", out)
    raw = out.read_bytes()
    assert raw.startswith(b"@echo off\r\n") and b"\r\n" in raw and not raw.startswith(b"\xef\xbb\xbf")
    assert b"/Index:3" in raw
    again = diskkit("ramos", "script", "deploy", "--vhd", "D:\\a.vhd", "--wim", "x", "--index", "1",
                    "--out", out, check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    printed = diskkit("ramos", "script", "slim").stdout
    assert "compact /CompactOS:always" in printed
    warn = diskkit("ramos", "script", "deploy", "--vhd", "D:\\my vhd\\w.vhd", "--wim", "x",
                   "--index", "1")
    assert "warning" in warn.stderr


_PATH_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters='"')


@given(st.text(_PATH_CHARS, min_size=1, max_size=40), st.text(_PATH_CHARS, min_size=1, max_size=40))
def test_any_path_stays_inside_its_quotes(vhd_name, drv_name):
    """Whatever the names hold (& | < > ^ ( ) % ! spaces, CJK), each lands quoted, % doubled,
    and the script keeps its shape."""
    vhd, drivers = "D:\\" + vhd_name, "E:\\" + drv_name
    try:
        lines = lines_of(deploy_script(DeployOptions(vhd, "x.wim", 1, drivers=drivers)))
    except UsageError:
        assert any(c in vhd + drivers for c in "\x85\u2028\u2029") or \
            any(0x7f <= ord(c) <= 0x9f for c in vhd + drivers)
        return
    baseline = lines_of(deploy_script(DeployOptions("D:\\a.vhd", "x.wim", 1, drivers="E:\\d")))
    assert len(lines) == len(baseline)

    def quoted(value):  # byte for byte: NTFS names are not Unicode-normalized
        return '"' + value.replace("%", "%%") + '"'
    assert f"> \"%DK_LOG%\\diskpart-attach.txt\" echo select vdisk file={quoted(vhd)}" in lines
    assert any(f"/Driver:{quoted(drivers)} /Recurse" in l for l in lines)


def test_init_warns_below_a_sane_size_and_refuses_other_formats(tmp_path):
    small = diskkit("ramos", "init", tmp_path / "s.vhd", "--size", "200M", "--chain", "grub4efi",
                    "--no-ntfs")
    assert "the Windows partition is only 82 MiB" in small.stderr
    assert "a VHD of at least 3190M" in small.stderr  # 117 MiB of ESP and MSR on GPT, backup
    mbr = diskkit("ramos", "init", tmp_path / "m.vhd", "--size", "200M", "--chain", "ntloader",
                  "--no-ntfs")
    assert "a VHD of at least 3073M" in mbr.stderr
    big = diskkit("ramos", "init", tmp_path / "b.vhd", "--size", "4G", "--chain", "ntloader",
                  "--no-ntfs")
    assert "warning" not in big.stderr
    err = one_error("ramos", "init", tmp_path / "x.vhdx", "--size", "4G")
    assert "not a VHDX" in err and "name it .vhd" in err
    assert not (tmp_path / "x.vhdx").exists()
    other = diskkit("ramos", "init", tmp_path / "w.img", "--size", "200M", "--no-ntfs")
    assert "attaches it only under a .vhd name" in other.stderr
