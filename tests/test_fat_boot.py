"""OVMF (UEFI firmware in QEMU) boots GRUB from an ESP that diskkit formatted and filled."""

from __future__ import annotations

import pytest
from support import diskkit, run
from support.fat import assert_fsck_clean, new_image
from support.uefi import boot_uefi, grub_efi

from diskkit.units import MiB


@pytest.mark.slow
@pytest.mark.parametrize("fat_type, esp_mib", [(32, 100), (16, 32)], ids=["fat32", "fat16"])
def test_ovmf_boots_grub_from_diskkit_esp(tmp_path, fat_type, esp_mib):
    img = new_image(tmp_path / "disk.img", (esp_mib + 2) * MiB)
    run("sgdisk", "-n", f"1:2048:+{esp_mib}M", "-t", "1:ef00", "-c", "1:EFI system", img)
    marker = f"DISKKIT-FAT{fat_type}-ESP-BOOTED"
    tree = tmp_path / "esp" / "EFI" / "BOOT"
    tree.mkdir(parents=True)
    grub_efi(str(tree / "BOOTX64.EFI"))
    (tree / "grub.cfg").write_text(f"echo {marker}\nhalt\n")
    out = diskkit("fat", "mkfs", img, "--part", "1", "--fat", str(fat_type), "--label", "ESP",
                  "--json").stdout
    assert f'"fat_type": {fat_type}' in out and '"hidden_sectors": 2048' in out
    diskkit("fat", "put", "-r", img, "--part", "1", str(tmp_path / "esp" / "EFI"), "/")
    assert_fsck_clean(img, 2048 * 512, esp_mib * MiB)
    log = boot_uefi(img, "raw", str(tmp_path), timeout=90)
    assert marker in log, log[-2000:]
