"""vmdk wrap: qemu-img opens the descriptor with the VHD's size and finds it identical."""

from __future__ import annotations

import json
import os

import pytest

from diskkit import vhd
from diskkit.errors import AlreadyExists, Unsupported
from diskkit.image import open_image
from diskkit.ops.vmdk import vmware_geometry, wrap
from diskkit.units import GiB, MiB
from support import diskkit
from support.vhd import qemu_compare, qemu_size, random_writes


@pytest.mark.parametrize("adapter", ["lsilogic", "buslogic", "ide"])
@pytest.mark.parametrize("size", [64 * MiB, 100 * MiB + 1536])
def test_descriptor_is_the_vhd(tmp_path, adapter, size):
    image = tmp_path / "disk.vhd"
    vhd.create(image, size, "fixed")
    with open_image(image, writable=True) as dev:
        random_writes(dev, seed=size, count=20)
        dev.write_at(size - 512, b"\xee" * 512)  # the last sector, right before the footer
    out = tmp_path / "sub" / "disk.vmdk"
    out.parent.mkdir()
    result = wrap(image, out, adapter)
    assert result["extent"] == os.path.join("..", "disk.vhd")
    assert qemu_size(out, "vmdk") == size
    assert qemu_compare(out, "vmdk", image, "vpc")
    text = out.read_text()
    assert f'RW {size // 512} FLAT "../disk.vhd" 0' in text
    assert f'ddb.adapterType = "{adapter}"' in text
    c, h, s = vmware_geometry(size // 512, adapter)
    assert f'ddb.geometry.heads = "{h}"' in text and (h == 16) == (adapter == "ide")
    assert c == size // 512 // (h * 63) and s == 63


def test_vmx_and_refusals(tmp_path):
    image = tmp_path / "w.vhd"
    vhd.create(image, 2 * GiB, "fixed")
    proc = diskkit("vmdk", "wrap", "--json", image, "--vmx", tmp_path / "w.vmx", "--memory", "8G",
                   "--cpus", "4", "--adapter", "ide")
    result = json.loads(proc.stdout)
    assert result["vmdk"].endswith("w.vmdk") and result["geometry"]["heads"] == 16
    vmx = (tmp_path / "w.vmx").read_text()
    for line in ('firmware = "efi"', 'memsize = "8192"', 'numvcpus = "4"',
                 'ide0:0.fileName = "w.vmdk"'):
        assert line in vmx
    with pytest.raises(AlreadyExists):
        wrap(image)
    dyn = tmp_path / "d.vhd"
    vhd.create(dyn, 64 * MiB, "dynamic")
    with pytest.raises(Unsupported, match="convert it first"):
        wrap(dyn)
    proc = diskkit("vmdk", "wrap", dyn, check=False)
    assert proc.returncode == 2 and "convert" in proc.stderr
    assert not (tmp_path / "d.vmdk").exists()
