"""``ramos plan --from IMAGE``: the smallest VHD that holds the Windows already in IMAGE.

The whole VHD file sits in RAM and is read at every power-on, so every unused gigabyte costs
memory and load time. ``measure`` reads the Windows partition's NTFS once (used clusters, MFT
size, where the partition lies, what follows it); ``shrink_plan`` is arithmetic over those
numbers: used clusters + an MFT reserve + the headroom the user asks for, rounded to whole
MiB, with the partitions before and after kept as they are.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ..boot.chains import ramos_chain
from ..errors import CorruptImage, NotFound, UsageError
from ..i18n import tr
from ..ops.resize import ntfsresize_command
from ..units import GiB, MiB, format_size
from .layout import layout_for
from .plan import format_rate

DEFAULT_HEADROOM = GiB  # free space a running Windows needs; doctor warns below it too
MFT_GROWTH = 8  # room for the MFT to grow by an eighth of its size (at least MFT_RESERVE_MIN)
MFT_RESERVE_MIN = 16 * MiB
GPT_BACKUP = 33 * 512  # backup entry array and header after the last partition


@dataclass(frozen=True)
class Measured:
    """What ``measure`` read from the image."""

    image: str
    container: str  # raw, fixed, dynamic, vhdx
    disk_size: int
    partition: int | None  # the Windows partition's number (None: the whole disk is NTFS)
    start: int  # where the Windows partition starts
    size: int  # its size
    after: int  # bytes the image needs after it: later partitions, the backup GPT
    used: int  # NTFS used clusters, bytes
    mft: int  # MFT size, bytes
    min_size: int  # the NTFS's own smallest size (ntfsresize --info)


@dataclass
class ShrinkPlan:
    measured: Measured
    chain: str
    headroom: int
    read_rate: float
    mft_reserve: int
    ntfs_size: int  # the Windows partition's new size
    vhd_size: int  # the smallest VHD (this image's layout, shrunk in place)
    recapture_size: int  # the smallest ``ramos init --chain`` VHD holding it
    ram_saved: int
    seconds_saved: float
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        m = self.measured
        return {"image": m.image, "container": m.container, "disk_size": m.disk_size,
                "partition": m.partition, "used_bytes": m.used, "mft_bytes": m.mft,
                "mft_reserve": self.mft_reserve, "headroom": self.headroom,
                "ntfs_min_size": m.min_size, "windows_partition_size": self.ntfs_size,
                "smallest_vhd": self.vhd_size, "recapture_vhd": self.recapture_size,
                "ram_saved": self.ram_saved,
                "seconds_saved": round(self.seconds_saved, 2), "read_rate": self.read_rate,
                "chain": self.chain, "steps": self.steps}

    def to_text(self) -> str:
        m = self.measured
        where = tr("partition {n}", n=m.partition) if m.partition else tr("whole disk")
        lines = [
            tr("{image}: {size} VHD; Windows on {where}: NTFS {used} used, MFT {mft}",
               image=m.image, size=format_size(m.disk_size), where=where,
               used=format_size(m.used), mft=format_size(m.mft)),
            tr("smallest VHD: {size} = partitions before Windows {before} + used {used} + MFT "
               "reserve {mft} + headroom {headroom} + {after} after",
               size=format_size(self.vhd_size), before=format_size(m.start),
               used=format_size(m.used), mft=format_size(self.mft_reserve),
               headroom=format_size(self.headroom), after=format_size(m.after)),
        ]
        if ramos_chain(self.chain).in_ram:
            lines.append(tr("saves {ram} of RAM and {seconds} s of loading at boot (at {rate})",
                            ram=format_size(self.ram_saved), seconds=f"{self.seconds_saved:.1f}",
                            rate=format_rate(self.read_rate)))
        else:
            lines.append(tr("saves {size} of disk space ({chain} boots from the file: no RAM "
                            "to save)", size=format_size(self.ram_saved), chain=self.chain))
        lines += [tr("step {n}: {step}", n=n, step=step) for n, step in enumerate(self.steps, 1)]
        return "\n".join(lines)


def _align(value: int) -> int:
    return -(-value // MiB) * MiB


def shrink_plan(measured: Measured, headroom: int = DEFAULT_HEADROOM, read_rate: float = 1e9,
                chain: str = "grub2-map") -> ShrinkPlan:
    """The smallest VHD for ``measured`` and how to get there (pure arithmetic)."""
    if headroom < 0 or read_rate <= 0:
        raise UsageError(tr("--headroom must not be negative and --ssd-read must be positive"))
    m = measured
    mft_reserve = max(_align(m.mft // MFT_GROWTH), MFT_RESERVE_MIN)
    ntfs_size = max(_align(m.used + mft_reserve + headroom), _align(m.min_size))
    vhd_size = _align(m.start + ntfs_size + m.after)
    saved = max(0, m.disk_size - vhd_size)
    facts = ramos_chain(chain)
    windows_start = layout_for(chain, 4 * GiB).windows.start  # the layout ramos init makes
    recapture = _align(windows_start + ntfs_size + (GPT_BACKUP if facts.vhd_table == "gpt"
                                                     else 0))
    plan = ShrinkPlan(m, chain, headroom, read_rate, mft_reserve, ntfs_size, vhd_size,
                      recapture, saved, saved / read_rate if facts.in_ram else 0.0)
    if vhd_size >= m.disk_size:
        plan.steps.append(tr("nothing to do: the VHD is already no larger than this"))
        return plan
    image = shlex.quote(m.image)
    n = m.partition
    if n is not None:
        plan.steps.append(tr(
            "shrink the Windows partition to {ntfs} in place: on Windows, diskpart: select "
            "vdisk file=IMAGE, attach vdisk, select partition {n}, shrink desired={mb}, detach "
            "vdisk (Windows may stop short of it at files it cannot move: pagefile, hibernation "
            "file, restore points; `ramos script slim` removes them); or on Linux: {command}, "
            "then diskkit part resize {image} {n} --size {bytes}", ntfs=format_size(ntfs_size),
            n=n, mb=(m.size - ntfs_size) // MiB, bytes=ntfs_size, image=image,
            command=ntfsresize_command(m.image, m.container, n, ntfs_size)))
        plan.steps.append(tr("cut the image to the new size: diskkit resize {image} --size {size}",
                             image=image, size=vhd_size))
    plan.steps.append(tr(
        "or re-capture: wimcapture (Linux) or DISM /Capture-Image (Windows) the Windows "
        "partition into a WIM, diskkit ramos init NEW.vhd --size {size} --chain {chain}, then "
        "diskkit ramos script deploy --vhd NEW.vhd --wim WIM --index 1 applies it",
        size=recapture, chain=chain))
    return plan


def _find_windows(dev, table, want: int | None):
    """The volume holding Windows: partition ``want``, else the NTFS with \\Windows\\System32,
    else the only NTFS."""
    from .. import part
    from ..ntfs import NtfsVolume
    from ..signatures import boot_record

    ntfs = []
    for volume in part.volumes(dev, table):
        if want is not None and volume.index != want:
            continue
        if volume.device is None or boot_record(volume.device.read_at(0, 512)) != "ntfs":
            continue
        ntfs.append(volume)
        if want is None and NtfsVolume(volume.device).exists("/Windows/System32"):
            return volume
    if want is not None and not ntfs:
        raise NotFound(tr("partition {n} holds no NTFS", n=want))
    if len(ntfs) == 1:
        return ntfs[0]
    if not ntfs:
        raise NotFound(tr("no NTFS partition in this image: nothing to plan from"))
    raise UsageError(tr("several NTFS partitions and none holds \\Windows: choose one with "
                        "--part N"))


def measure(path: str, part_number: int | None = None, allow_device: bool = False) -> Measured:
    """Read the Windows partition of ``path``; refuses an NTFS Windows did not shut down
    cleanly (its bitmap is not final)."""
    from .. import part
    from ..filesystems import space
    from ..image import open_image

    with open_image(str(path), allow_device=allow_device) as dev:
        table = part.read_table(dev)
        volume = _find_windows(dev, table, part_number)
        found = space(volume.device)
        where = tr("partition {n}", n=volume.index) if volume.index else tr("whole disk")
        if found.unclean:
            raise CorruptImage(tr("{path}: {where}: NTFS not clean ({reason}), so its used "
                                  "space is not final: start Windows and shut it down fully "
                                  "(shutdown /s /t 0, or turn Fast Startup off), then plan "
                                  "again", path=path, where=where, reason=found.unclean))
        p = volume.partition
        if p is None:
            start, size, after = 0, dev.size, 0
        else:
            later = [q.start + q.size for q in table.partitions if q.start > p.start]
            end = p.start + p.size
            after = max(later, default=end) - end
            after += GPT_BACKUP if table.kind == "gpt" else 0
            start, size = p.start, p.size
        return Measured(str(path), dev.container, dev.size, volume.index, start, size, after,
                        found.used_bytes, found.mft_bytes, found.min_size)
