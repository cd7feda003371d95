"""Block and character devices: never written unless the user passes ``--device``.

/dev/null and /dev/zero stand in for real disks (they are character devices, harmless to
write). Commands that edit an image refuse them without ``--device``; commands that create a
new file refuse them always (diskkit creates image files, it does not image disks); read
commands may open them and fail cleanly. A symlink to a device counts as the device.
"""

from __future__ import annotations

import os

import pytest

from support import assert_command, diskkit
from support.reliability import assert_clean_outcome, assert_error
from support.samples import vhd_source

DEVICES = ["/dev/null", "/dev/zero"]

EDITS = [  # (command words, arguments after the image)
    (("fat", "mkfs"), ["--fat", "12"]),
    (("fat", "put"), ["{src}", "/x.bin"]),
    (("fat", "mkdir"), ["/d"]),
    (("fat", "rm"), ["/x.bin"]),
    (("fat", "mv"), ["/a", "/b"]),
    (("part", "init"), ["--gpt"]),
    (("part", "add"), ["--type", "linux", "--size", "1M"]),
    (("part", "delete"), ["1"]),
    (("part", "repair"), []),
    (("compact",), []),
    (("esp", "build"), ["--loader", "{src}"]),
]
CREATES = [
    ["vhd", "create", "--size", "8M", "--force", "{dev}"],
    ["convert", "--to", "raw", "--force", "{vhd}", "{dev}"],
    ["convert", "--to", "fixed", "--force", "{vhd}", "{dev}"],
    ["ramos", "init", "--size", "3G", "--no-ntfs", "--force", "{dev}"],
    ["esp", "create", "--size", "64M", "--loader", "{vhd}", "--force", "{dev}"],
]
READS = [("fat", "ls"), ("fat", "check"), ("part", "show"), ("part", "verify"), ("vhd", "info"),
         ("vhd", "check"), ("info",), ("check",)]


def fill(words, mapping):
    return [mapping.get(w, w) for w in words]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("command,rest", EDITS, ids=lambda c: " ".join(c) if isinstance(c, tuple) else "")
def test_edit_refuses_device_without_flag(command, rest, device, tmp_path):
    assert_command(*command)
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    proc = diskkit(*command, device, *fill(rest, {"{src}": str(src)}), check=False)
    err = assert_error(proc, f"{' '.join(command)} {device}")
    assert "--device" in err, f"the refusal should name --device: {err}"


@pytest.mark.parametrize("command,rest", EDITS[:3] + EDITS[5:7], ids=lambda c: " ".join(c) if isinstance(c, tuple) else "")
def test_symlink_to_device_is_a_device(command, rest, tmp_path):
    assert_command(*command)
    link = tmp_path / "disk.img"
    os.symlink("/dev/zero", link)
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    proc = diskkit(*command, link, *fill(rest, {"{src}": str(src)}), check=False)
    assert "--device" in assert_error(proc, f"{' '.join(command)} via a symlink to /dev/zero")


@pytest.mark.parametrize("command,rest", EDITS[:1] + EDITS[5:6], ids=lambda c: " ".join(c) if isinstance(c, tuple) else "")
def test_device_flag_lets_the_edit_through(command, rest, tmp_path):
    """With --device the device check passes; /dev/null (0 bytes) then fails for its size."""
    assert_command(*command)
    proc = diskkit("--device", *command, "/dev/null", *rest, check=False)
    assert_clean_outcome(proc, f"--device {' '.join(command)} /dev/null")
    assert "pass --device" not in proc.stderr


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("argv", CREATES, ids=lambda a: " ".join(a[:2]) if isinstance(a, list) else "")
@pytest.mark.parametrize("flag", [[], ["--device"]], ids=["plain", "with-device-flag"])
def test_create_refuses_device_target(argv, device, flag, tmp_path):
    assert_command(*argv)
    vhd_source(tmp_path)
    proc = diskkit(*flag, *fill(argv, {"{dev}": device, "{vhd}": str(tmp_path / "src.vhd")}),
                   check=False)
    err = assert_error(proc, f"{' '.join(argv[:2])} onto {device}")
    assert "device" in err, err
    assert os.path.exists(device) and not os.path.isfile(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_read_commands_on_devices(command, device):
    assert_command(*command)
    proc = diskkit(*command, device, timeout=30, check=False)
    assert_clean_outcome(proc, f"{' '.join(command)} {device}")


def test_open_host_file_contract():
    from diskkit.blockdev import FileDevice, open_host_file
    from diskkit.errors import UsageError

    with pytest.raises(UsageError, match="--device"):
        open_host_file("/dev/zero", writable=True)
    open_host_file("/dev/zero", writable=False).close()
    open_host_file("/dev/null", writable=True, allow_device=True).close()
    with pytest.raises(UsageError):
        FileDevice("/dev/null", writable=True)
