"""Firmware boot entry commands: exact argument vectors, and --apply's admin check, GUID
capture and failure handling with a stand-in runner (no real NVRAM is touched)."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from diskkit.boot import firmware
from diskkit.errors import DiskkitError, UsageError
from support import diskkit


def test_windows_commands_copy_bootmgr_set_path_and_put_first():
    plan = firmware.entry_commands(r"\EFI\ramos\grubx64.efi", "RAMOS", "windows")
    assert plan.commands == [
        ["bcdedit", "/copy", "{bootmgr}", "/d", "RAMOS"],
        ["bcdedit", "/set", firmware.NEW_ID, "path", r"\EFI\ramos\grubx64.efi"],
        ["bcdedit", "/set", "{fwbootmgr}", "displayorder", firmware.NEW_ID, "/addfirst"]]
    assert plan.script().splitlines()[0] == "bcdedit /copy {bootmgr} /d RAMOS"


def test_windows_label_with_spaces_and_percent_is_quoted_for_cmd():
    plan = firmware.entry_commands("/EFI/ramos/grubx64.efi", "RAM OS 100%", "windows")
    assert plan.script().splitlines()[0] == 'bcdedit /copy {bootmgr} /d "RAM OS 100%%"'


def test_linux_command_is_efibootmgr_create_and_shell_safe():
    plan = firmware.entry_commands("/EFI/ramos/grubx64.efi", "RAM OS's", "linux",
                                   "/dev/nvme0n1", 1)
    argv = ["efibootmgr", "--create", "--disk", "/dev/nvme0n1", "--part", "1",
            "--label", "RAM OS's", "--loader", r"\EFI\ramos\grubx64.efi"]
    assert plan.commands == [argv]
    assert shlex.split(plan.script()) == argv


@pytest.mark.parametrize("kwargs", [dict(platform="linux"), dict(platform="linux", disk="/dev/sda", part=0),
                                    dict(platform="windows", disk="/dev/sda"),
                                    dict(platform="macos")])
def test_bad_combinations_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        firmware.entry_commands(r"\EFI\ramos\grubx64.efi", "RAMOS", **kwargs)


def test_loader_path_is_validated():
    with pytest.raises(UsageError):
        firmware.entry_commands("EFI\\x\ny.efi", "RAMOS", "linux", "/dev/sda")


class FakeRunner:
    """Records the commands; answers like bcdedit/efibootmgr would (exit codes matter)."""

    def __init__(self, outputs):
        self.outputs = list(outputs)
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        rc, out = self.outputs.pop(0)
        return subprocess.CompletedProcess(argv, rc, out, "access denied" if rc else "")


def test_apply_windows_captures_the_new_guid_in_any_language(monkeypatch):
    monkeypatch.setattr(firmware.shutil, "which", lambda tool: "/fake/" + tool)
    guid = "{2d9b6a1c-0e8f-11ee-9c4b-0800272f1a3e}"
    runner = FakeRunner([(0, f"Der Eintrag wurde erfolgreich in {guid} kopiert."), (0, "ok"), (0, "ok")])
    firmware.apply(firmware.entry_commands(r"\EFI\ramos\grubx64.efi", "RAMOS", "windows"),
                   runner=runner, admin_check=lambda p: True)
    assert runner.calls[1] == ["bcdedit", "/set", guid, "path", r"\EFI\ramos\grubx64.efi"]
    assert runner.calls[2] == ["bcdedit", "/set", "{fwbootmgr}", "displayorder", guid, "/addfirst"]


def test_apply_stops_at_first_failure_and_refuses_without_admin(monkeypatch):
    monkeypatch.setattr(firmware.shutil, "which", lambda tool: "/fake/" + tool)
    plan = firmware.entry_commands(r"\EFI\ramos\grubx64.efi", "RAMOS", "windows")
    runner = FakeRunner([(1, "")])
    with pytest.raises(DiskkitError, match="exit 1"):
        firmware.apply(plan, runner=runner, admin_check=lambda p: True)
    assert len(runner.calls) == 1
    with pytest.raises(UsageError, match="elevated"):
        firmware.apply(plan, runner=FakeRunner([]), admin_check=lambda p: False)
    linux = firmware.entry_commands(r"\EFI\x.efi", "X", "linux", "/dev/sda")
    with pytest.raises(UsageError, match="sudo"):
        firmware.apply(linux, runner=FakeRunner([]), admin_check=lambda p: False)


def test_apply_without_the_tool_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(firmware.shutil, "which", lambda tool: None)
    plan = firmware.entry_commands(r"\EFI\x.efi", "X", "linux", "/dev/sda")
    with pytest.raises(DiskkitError, match="efibootmgr: not found"):
        firmware.apply(plan, runner=FakeRunner([]), admin_check=lambda p: True)


def test_cli_prints_commands_and_json():
    out = diskkit("boot", "entry", "--loader", r"\EFI\ramos\grubx64.efi", "--label", "RAMOS",
                  "--platform", "linux", "--disk", "/dev/nvme0n1", "--part", "1").stdout
    assert out.splitlines()[0] == r"efibootmgr --create --disk /dev/nvme0n1 --part 1 --label RAMOS --loader '\EFI\ramos\grubx64.efi'"
    import json

    data = json.loads(diskkit("boot", "entry", "--loader", r"\EFI\ramos\grubx64.efi", "--label",
                              "RAMOS", "--platform", "windows", "--json").stdout)
    assert data["commands"][0] == ["bcdedit", "/copy", "{bootmgr}", "/d", "RAMOS"]
    bad = diskkit("boot", "entry", "--loader", r"\EFI\x.efi", "--label", "X", "--platform",
                  "linux", check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("diskkit: error: --disk is required")


def test_cli_apply_runs_the_tool_found_on_path(tmp_path):
    """--apply through the real subprocess path, with a stand-in efibootmgr that records its
    arguments (no NVRAM is touched). Needs root, as the real command would."""
    import os
    import sys

    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("--apply needs root")
    record = tmp_path / "args"
    fake = tmp_path / "efibootmgr"
    fake.write_text(f"#!{sys.executable}\nimport sys\nopen({str(record)!r}, 'w').write"
                    "('\\0'.join(sys.argv[1:]))\nprint('Boot0007* RAMOS')\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    proc = subprocess.run([sys.executable, "-m", "diskkit", "boot", "entry", "--loader",
                           r"\EFI\ramos\grubx64.efi", "--label", "RAM OS", "--platform", "linux",
                           "--disk", "/dev/vda", "--part", "2", "--apply"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert record.read_text().split("\0") == ["--create", "--disk", "/dev/vda", "--part", "2",
                                              "--label", "RAM OS", "--loader",
                                              r"\EFI\ramos\grubx64.efi"]
    assert "Boot0007* RAMOS" in proc.stdout
