"""NTFS volumes Windows made (the foreign-image corpus: util-linux's ntfs.img, dissect's and
rdisk's VHD/VHDX test disks), judged by ntfs-3g and libfsntfs."""

from __future__ import annotations

import re

import pytest

from diskkit import part
from diskkit.image import open_image
from diskkit.ntfs import NtfsVolume, check
from support import run
from support.ntfs import libfsntfs_tree

VOLUMES = [("ul-fs/ntfs.img", None), ("vhd-foreign/dissect-dynamic.vhd", 1),
           ("vhd-foreign/dissect-fixed.vhd", 1), ("vhd-foreign/dissect-dynamic.vhdx", 1),
           ("vhd-foreign/dissect-fixed.vhdx", 1), ("vhd-foreign/rdisk-win7dyn.vhd", 2)]


@pytest.fixture(scope="module")
def extracted(corpus, tmp_path_factory):
    """Each volume as a plain file, so ntfs-3g's tools (which read files) can judge it too."""
    tmp = tmp_path_factory.mktemp("ntfs-foreign")
    out = {}
    for name, index in VOLUMES:
        with open_image(str(corpus.path(name))) as disk:
            dev = disk if index is None else part.partition_device(disk, index)
            path = tmp / (name.replace("/", "_") + ".ntfs")
            path.write_bytes(dev.read_at(0, dev.size))
        out[name] = str(path)
    return out


@pytest.mark.parametrize("name,index", VOLUMES)
def test_windows_volume(corpus, extracted, name, index):
    with open_image(str(corpus.path(name))) as disk:
        dev = disk if index is None else part.partition_device(disk, index)
        vol = NtfsVolume(dev)
        info = vol.info()
        report = check(dev)
        assert report.clean, report.to_text()
        assert vol.unclean_reason() is None
        walked = {}
        for dpath, dirs, files in vol.walk("/", metafiles=True):
            for e in dirs + files:
                walked[f"{dpath.rstrip('/')}/{e.name}"] = (e.is_dir, e.size)
    image = extracted[name]
    out = run("ntfsinfo", "-m", image).stdout
    assert info["free_clusters"] == int(re.search(r"Free Clusters:\s*(\d+)", out).group(1))
    assert info["cluster_size"] == int(re.search(r"Cluster Size:\s*(\d+)", out).group(1))
    assert info["label"] == re.search(r"Volume Name:\s*(.*)", out).group(1).strip()
    theirs = libfsntfs_tree(image)
    ours = {p: v for p, v in walked.items() if p.split("/")[1] and not p.startswith("/$")}
    assert ours == {p: v[:2] for p, v in theirs.items()}
