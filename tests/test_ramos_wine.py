"""The generated .cmd scripts run by a real cmd.exe implementation (Wine's), with stub tools.

Each stub (dism, reg, bcdboot, diskpart, powercfg, compact, powershell, sc) logs the arguments it
received, so the test sees exactly what cmd passed after its own parsing of quotes, ``&``,
parentheses and ``%%``. Stubs are batch files, which cmd only returns from when ``call``ed:
the test prefixes each tool line with ``call`` (which expands ``%`` once more, so these paths
avoid ``%`` and ``^``; the line-by-line tests cover those). Wine's cmd ignores ``chcp 65001``
when reading a batch file, so non-ASCII names are checked in test_ramos.py, not here; and a
``call``ed batch hands back exit code 1 for any failure, so exact codes (3010) are checked
there too.
"""

import os
import re
import subprocess

import pytest

from diskkit.ramos.windows import (DeployOptions, deploy_script, extend_script, render_cmd,
                                   slim_script)
from support import diskkit, need_tool

WINE = "/usr/lib/wine/wine64"
TOOLS = ("dism", "reg", "bcdboot", "diskpart", "powercfg", "compact", "powershell", "sc")
STUB = ('@>>"%~dp0calls.log" echo %~n0 %*\r\n'
        '@if /i "%~n0"=="diskpart" type %2>>"%~dp0calls.log"\r\n'
        '@if /i "%~n0 %~1"=="reg delete" exit /b 1\r\n'  # as reg does when the key is absent
        '{extra}'
        '@exit /b 0\r\n')


@pytest.fixture(scope="module")
def wine_env(tmp_path_factory):
    need_tool(WINE)
    prefix = tmp_path_factory.mktemp("wineprefix")
    return dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")


def run_cmd(env, folder, script, extra=None):
    """Write stubs and the script (tool lines prefixed with call) to ``folder``; run it."""
    extra = extra or {}
    for tool in TOOLS:
        (folder / f"{tool}.bat").write_bytes(STUB.format(extra=extra.get(tool, "")).encode())
    lines = ["call " + l if re.match(rf"({'|'.join(TOOLS)}) ", l)
             else "rem (admin check needs real Windows)" if l.startswith("net session") else l
             for l in render_cmd(script).split("\r\n")]
    (folder / "run.cmd").write_bytes("\r\n".join(lines).encode())
    proc = subprocess.run(["timeout", "120", WINE, "cmd", "/c", "run.cmd"], cwd=folder, env=env,
                          capture_output=True)
    log = folder / "calls.log"
    # (a redirection after the arguments leaves cmd's trailing blanks in %*)
    calls = [c.rstrip() for c in log.read_bytes().decode("utf-8").splitlines()] if log.exists() else []
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), calls


def test_deploy_runs_with_every_argument_intact(wine_env, tmp_path):
    opts = DeployOptions(vhd="D:\\RAM OS\\win (1) & x!.vhd", wim="E:\\my src\\install.wim",
                         index=6, drivers="D:\\drv (x86); a=b, c", svbus="D:\\sv bus")
    rc, out, calls = run_cmd(wine_env, tmp_path, deploy_script(opts))
    assert rc == 0, out
    assert "[17/17] detach" in out and "All steps finished" in out
    log = "Z:" + str(tmp_path).replace("/", "\\") + "\\diskkit-logs"  # %~dp0 as Wine sees it
    assert calls[0] == f'diskpart /s "{log}\\diskpart-attach.txt"'
    assert calls[1:9] == ['select vdisk file="D:\\RAM OS\\win (1) & x!.vhd"', "attach vdisk",
                          "select partition 1", 'format quick fs=fat32 label="System"',
                          "assign letter=S", "select partition 3",
                          'format quick fs=ntfs label="Windows"', "assign letter=V"]
    tools = [c for c in calls if c.split(" ")[0] in TOOLS]
    assert tools[1:4] == [
        f'dism /English /LogPath:"{log}\\dism-apply.log" /Apply-Image '
        '/ImageFile:"E:\\my src\\install.wim" /Index:6 /ApplyDir:V:\\ /Compact',
        f'dism /English /LogPath:"{log}\\dism-drivers.log" /Image:V:\\ /Add-Driver '
        '/Driver:"D:\\drv (x86); a=b, c" /Recurse',
        f'dism /English /LogPath:"{log}\\dism-svbus.log" /Image:V:\\ /Add-Driver '
        '/Driver:"D:\\sv bus" /Recurse /ForceUnsigned']
    assert 'reg add "HKLM\\DISKKIT_SYSTEM\\ControlSet001\\Control\\Session Manager\\Memory ' \
           'Management" /v PagingFiles /t REG_MULTI_SZ /d "" /f' in tools
    # reg delete exits 1 (no StartOverride): accepted, and the script went on
    assert tools.count('reg delete "HKLM\\DISKKIT_SYSTEM\\ControlSet001\\Services\\storahci'
                       '\\StartOverride" /f') == 1
    assert tools[-2] == "bcdboot V:\\Windows /s S: /f UEFI"
    assert calls[-2:] == ['select vdisk file="D:\\RAM OS\\win (1) & x!.vhd"', "detach vdisk"]
    assert (tmp_path / "diskkit-logs" / "diskpart-detach.txt").is_file()


def test_deploy_failure_stops_and_cleans_up(wine_env, tmp_path):
    opts = DeployOptions(vhd="D:\\ramos\\win.vhd", wim="install.wim", index=1)
    failing = {"reg": '@if /i "%~1 %~3"=="add /v" if /i "%~4"=="Start" exit /b 5\r\n'}
    rc, out, calls = run_cmd(wine_env, tmp_path, deploy_script(opts), failing)
    assert rc == 1
    assert "Step boot-start-storahci failed with exit code 1" in out  # Wine: any failure is 1
    tools = [c for c in calls if c.split(" ")[0] in TOOLS]
    # nothing after the failing step ran; the hives were unloaded and the VHD detached
    assert not any(c.startswith("bcdboot") for c in tools)
    assert tools[-4].startswith('reg add "HKLM\\DISKKIT_SYSTEM\\ControlSet001\\Services\\storahci"')
    assert tools[-3:-1] == ["reg unload HKLM\\DISKKIT_SYSTEM", "reg unload HKLM\\DISKKIT_SOFTWARE"]
    assert tools[-1].startswith("diskpart /s ") and calls[-2:] == [
        'select vdisk file="D:\\ramos\\win.vhd"', "detach vdisk"]


def test_extend_attaches_extends_and_detaches(wine_env, tmp_path):
    rc, out, calls = run_cmd(wine_env, tmp_path, extend_script("D:\\RAM OS\\win (1).vhd", 3))
    assert rc == 0, out
    assert calls[1:5] == ['select vdisk file="D:\\RAM OS\\win (1).vhd"', "attach vdisk",
                          "select partition 3", "extend filesystem"]
    assert calls[-2:] == ['select vdisk file="D:\\RAM OS\\win (1).vhd"', "detach vdisk"]
    script = diskkit("ramos", "script", "extend", "--vhd", "D:\\w.vhd", "--part", "2",
                     "--with-partition").stdout
    assert "echo extend\n" in script and "extend filesystem" not in script
    refused = diskkit("ramos", "script", "extend", "--vhd", 'D:\\"x.vhd', "--part", "2",
                      check=False)
    assert refused.returncode == 2 and "double quote" in refused.stderr


def test_slim_keeps_pipes_quoted(wine_env, tmp_path):
    rc, out, calls = run_cmd(wine_env, tmp_path, slim_script(remove_apps=True))
    assert rc == 0, out
    assert [c.split(" ")[0] for c in calls] == ["powercfg", "powershell", "powershell", "sc",
                                                "sc", "powershell", "dism", "compact"]
    # `start=` and its value stay two arguments, as sc.exe wants them
    assert calls[3:5] == ["sc config WSearch start= disabled", "sc config SysMain start= disabled"]
    apps = calls[5]
    assert apps.startswith('powershell -NoProfile -ExecutionPolicy Bypass -Command "')
    assert "| Remove-AppxProvisionedPackage -Online\"" in apps  # cmd did not treat | as a pipe
    assert calls[-1] == "compact /CompactOS:always"


BCDEDIT = ('@>>"%~dp0calls.log" echo bcdedit %*\r\n'
           '@if /i "%~1"=="/enum" exit /b 1\r\n'  # nothing of ours exists yet
           '@if /i "%~1 %~2"=="%DK_FAIL%" exit /b 1\r\n'  # /set {bootmgr}, /timeout 10
           '@if /i "%~1 %~5"=="%DK_FAIL%" exit /b 1\r\n'  # /create /device, /create /application
           '@exit /b 0\r\n')


@pytest.fixture(scope="module")
def bcd_script(tmp_path_factory):
    """`boot config --chain bootmgr-ramdisk` for a real `ramos init` image."""
    from support import diskkit

    base = tmp_path_factory.mktemp("bcd")
    diskkit("ramos", "init", base / "w.vhd", "--size", "160M", "--chain", "bootmgr-ramdisk",
            "--no-ntfs")
    diskkit("boot", "config", "--chain", "bootmgr-ramdisk", "--vhd", base / "w.vhd",
            "--vhd-path", "D:\\ramos\\w.vhd", "--out", base / "ramos-bcd.cmd")
    return (base / "ramos-bcd.cmd").read_bytes().decode("utf-8")


def run_bcd(env, folder, script, fail=""):
    (folder / "bcdedit.bat").write_bytes(BCDEDIT.encode())
    text = script.replace("net session", "rem net session").replace("bcdedit ", "call bcdedit ")
    (folder / "run.cmd").write_bytes(text.encode())
    proc = subprocess.run(["timeout", "120", WINE, "cmd", "/c", "run.cmd"], cwd=folder,
                          env={**env, "DK_FAIL": fail}, capture_output=True)
    log = folder / "calls.log"
    calls = [c.rstrip() for c in log.read_bytes().decode().splitlines()] if log.exists() else []
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), calls


def made(calls, kind):
    """The id of the object a /create call made (its last word says which kind), or None."""
    return next((c.split()[2] for c in calls if c.startswith("bcdedit /create") and
                 c.endswith(kind)), None)


def ids(calls):
    return made(calls, "osloader"), made(calls, "/device")


def test_bcd_script_uses_its_own_ramdisk_options(wine_env, tmp_path, bcd_script):
    rc, out, calls = run_bcd(wine_env, tmp_path, bcd_script)
    assert rc == 0, out
    entry, options = ids(calls)
    assert options != entry and "{ramdiskoptions}" not in "\n".join(calls)
    assert f"bcdedit /set {options} ramdiskimageoffset 1048576" in calls
    assert f'bcdedit /set {entry} device "ramdisk=[D:]\\ramos\\w.vhd,{options}"' in calls
    assert not any("/delete" in c for c in calls)


@pytest.mark.parametrize("fail,undone,menu", [
    ("/set {bootmgr}", ["entry", "options"], False),
    ("/timeout 10", ["entry", "options"], True),
    ("/create /application", ["options"], False),
    ("/create /device", [], False),
])
def test_bcd_script_undoes_what_it_made_when_a_step_fails(wine_env, tmp_path, bcd_script,
                                                          fail, undone, menu):
    rc, out, calls = run_bcd(wine_env, tmp_path, bcd_script, fail)
    assert rc == 1
    assert "undoing what this script made" in out and "Nothing else was changed." in out
    deletes = [c for c in calls if "/delete" in c]
    entry, options = ids(calls)
    objects = {"entry": entry, "options": options}
    assert deletes == [f"bcdedit /delete {objects[o]}" for o in undone]
    assert ("The boot menu stays shown" in out) == menu
