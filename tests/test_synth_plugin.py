"""The pytest plugin and the testing extra, used the way another project would use them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import ENV

ROOT = Path(__file__).resolve().parent.parent

USER_TESTS = '''
import json
import os
import subprocess

from hypothesis import given, settings

from diskkit.fat import FatFS
from diskkit.image import open_image
from diskkit.part import partition_device
from diskkit.testing import images

SEEN = os.environ["SEEN_IMAGES"]


def remember(path):
    with open(SEEN, "a") as fh:
        fh.write(os.fspath(path) + "\\n")


def test_fixture_builds_an_esp(diskkit_image):
    img = diskkit_image(table="gpt", fs="fat32", files={"EFI/BOOT/BOOTX64.EFI": b"MZ loader"})
    remember(img)
    (partition, volume), = img.description.volumes()
    assert volume.tree() == {"EFI": None, "EFI/BOOT": None, "EFI/BOOT/BOOTX64.EFI": b"MZ loader"}
    with open_image(img.path) as dev, FatFS(partition_device(dev, partition.index)) as fs:
        assert fs.read_file("/EFI/BOOT/BOOTX64.EFI") == b"MZ loader"


def test_cli_into_tmp_image(tmp_image):
    out = tmp_image(".vhd")
    remember(out)
    proc = subprocess.run(["diskkit", "synth", out, "--seed", "3", "--container", "dynamic",
                           "--json"], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["container"]["kind"] == "dynamic" and os.path.exists(out)


@settings(max_examples=3, deadline=None)
@given(images(table="mbr", fs="fat16"))
def test_strategy(img):
    remember(img)
    info = json.loads(subprocess.run(["diskkit", "info", img, "--json"], capture_output=True,
                                     text=True, check=True).stdout)
    assert info["container"]["virtual_size"] == img.description.container.size
    assert [p["index"] for p in info["partitions"]] == [p.index for p in img.description.partitions]
'''


def test_a_fresh_venv_with_the_testing_extra(tmp_path):
    """pip installs the package (entry point included) into a new venv; a user's pytest run
    gets the fixtures without any configuration, and every image is gone afterwards."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps",
                              "--no-build-isolation", "-e", f"{ROOT}[testing]"],
                             capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    where = subprocess.run([python, "-c", "import diskkit; print(diskkit.__file__); "
                            "from importlib.metadata import entry_points; "
                            "print(*(e.value for e in entry_points(group='pytest11')))"],
                           capture_output=True, text=True, env=env, check=True).stdout
    assert where.startswith(str(ROOT)) and "diskkit.synth.plugin" in where, where
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_user.py").write_text(USER_TESTS)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env.update(PATH=f"{venv / 'bin'}:{env['PATH']}", TMPDIR=str(scratch),
               SEEN_IMAGES=str(tmp_path / "seen.txt"))
    proc = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", project],
                          capture_output=True, text=True, env=env, cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout, proc.stdout
    seen = (tmp_path / "seen.txt").read_text().split()
    assert len(seen) == 5 and not any(os.path.exists(p) for p in seen)
    assert not [p for p in os.listdir(scratch) if p.startswith("diskkit-")]


BLOCK_HYPOTHESIS = textwrap.dedent("""
    import sys
    class NoHypothesis:  # as if it were not installed
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "hypothesis":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, NoHypothesis())
    """)


def test_without_hypothesis(tmp_path):
    """diskkit.testing names the extra; the CLI and the plugin's fixture need no hypothesis."""
    proc = subprocess.run([sys.executable, "-c", BLOCK_HYPOTHESIS + "import diskkit.testing"],
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 1 and "pip install 'diskkit[testing]'" in proc.stderr
    out = tmp_path / "x.img"
    proc = subprocess.run([sys.executable, "-c", BLOCK_HYPOTHESIS + textwrap.dedent("""
        from diskkit.cli.__main__ import main
        sys.exit(main(["synth", sys.argv[1], "--seed", "2", "--table", "gpt"]))"""), out],
        capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0 and out.exists(), proc.stderr
    (tmp_path / "test_fixture.py").write_text(
        "def test_it(diskkit_image):\n    assert diskkit_image(table='mbr', fs='fat12').path\n")
    proc = subprocess.run([sys.executable, "-c", BLOCK_HYPOTHESIS + "import pytest; sys.exit("
                           "pytest.main(['-q', '-p', 'no:cacheprovider', '-p', "
                           "'diskkit.synth.plugin', sys.argv[1]]))", tmp_path],
                          capture_output=True, text=True, cwd=tmp_path,
                          env=dict(ENV, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"))  # hypothesis's own
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("keep", [False, True])
def test_images_kept_on_request(tmp_path, keep):
    (tmp_path / "test_keep.py").write_text(
        "def test_it(diskkit_image):\n    print('PATH', diskkit_image(table='gpt').path)\n")
    args = ["-q", "-s", "-p", "no:cacheprovider", "-p", "diskkit.synth.plugin", tmp_path]
    proc = subprocess.run([sys.executable, "-m", "pytest", *args,
                           *(["--diskkit-keep-images"] if keep else [])],
                          capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = proc.stdout.split("PATH ", 1)[1].split()[0]
    assert os.path.exists(path) == keep
    if keep:
        assert "diskkit images kept in" in proc.stdout
        os.unlink(path)
        os.rmdir(os.path.dirname(path))
