"""Short commands import only what they need (issue 18: within the interpreter's start-up + 50 ms).

Each command runs as a user runs it, under ``python -X importtime``; the modules it imports
beyond a bare interpreter's must not include the costly ones its job does not need: the
construct library (metadata structures are ``diskkit.structs`` layouts) on any of them, and
the dataclasses module (with the inspect module it loads) where no partition table is read.
No timings are asserted: benchmarks/bench_startup.py measures them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.bench_startup import make_image
from diskkit.image import open_image
from diskkit.units import MiB
from support import ENV

EVERYWHERE = {"construct"}
NO_TABLE = EVERYWHERE | {"dataclasses", "inspect"}  # part/ still declares dataclasses


def imported(*argv: str) -> set[str]:
    """Modules a process imports beyond a bare interpreter's, checking that it succeeds."""
    def names(args):
        done = subprocess.run([sys.executable, "-X", "importtime", *args], env=ENV,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    return names(["-m", "diskkit", "-q", *argv]) - names(["-c", "pass"])


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A dynamic VHD with a GPT and a FAT32 ESP (as the start-up benchmark uses) and a raw
    copy of it."""
    folder = tmp_path_factory.mktemp("startup")
    image, raw = folder / "disk.vhd", folder / "disk.img"
    make_image(str(image))
    with open_image(image) as dev, open(raw, "wb") as out:
        out.write(dev.read_at(0, dev.size))
    return folder, image, raw


@pytest.mark.parametrize("argv, unwanted", [
    (["vhd", "info", "{vhd}"], NO_TABLE),
    (["vhd", "info", "{raw}"], NO_TABLE),
    (["vhd", "create", "{new}", "--size", "64G", "--type", "dynamic"], NO_TABLE),
    (["vhd", "create", "{new}", "--size", "64G"], NO_TABLE),
    (["vhd", "check", "{vhd}"], NO_TABLE),
    (["part", "show", "{vhd}"], EVERYWHERE),
    (["part", "show", "{raw}"], EVERYWHERE),
    (["info", "{vhd}"], EVERYWHERE),
    (["info", "{raw}"], EVERYWHERE),
    (["fat", "mkfs", "{blank}", "--fat", "32"], NO_TABLE),
    (["fat", "ls", "{vhd}", "--part", "1"], EVERYWHERE),
], ids=lambda value: " ".join(value) if isinstance(value, list) else "")
def test_short_commands_leave_costly_modules_alone(images, argv, unwanted):
    folder, image, raw = images
    new, blank = folder / "new.vhd", folder / "blank.img"
    new.unlink(missing_ok=True)
    with open(blank, "wb") as fh:
        fh.truncate(512 * MiB)
    args = [a.format(vhd=image, raw=raw, new=new, blank=blank) for a in argv]
    assert not imported(*args) & unwanted
