"""What Linux can do to the Windows partition of a RAMOS VHD: mkntfs and wimapply.

Both tools write a whole file or device and know nothing of partitions inside an image, and
attaching a loop device at an offset needs root. So the partition is staged in a sparse
scratch file beside the image, the tool runs on it, and the result is copied back; both
copies go through ``ops.copy_device`` (allocated, non-zero data only), so raw images, fixed
and dynamic VHDs all work. The copy-back edits the image in place: an interrupted deploy
leaves a half-written Windows partition, which ``--reformat`` starts fresh.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys

from ..blockdev import FileDevice, FileRegion, SliceDevice, is_zero
from ..errors import DiskkitError, NotFound
from ..fileio import temp_name
from ..reproducible import source_date_epoch, unique_bytes
from ..signatures import boot_record


def tool(name: str) -> str | None:
    return shutil.which(name)


def _require(name: str, package: str) -> str:
    path = tool(name)
    if not path:
        raise NotFound(f"{name} not found: install {package} (Debian: apt-get install {package})")
    return path


def is_ntfs(image: str, offset: int) -> bool:
    """Does an NTFS boot sector sit at ``offset`` of the image's disk?"""
    from ..image import open_image

    with open_image(image) as dev:
        return offset + 512 <= dev.size and boot_record(dev.read_at(offset, 512)) == "ntfs"


def _overwrite_old_data(part, scratch) -> None:
    """Where ``part`` holds data the tool changed or zeroed, write the tool's bytes over it.

    ``copy_device`` writes only the scratch file's non-zero runs, so old bytes beside them
    would survive; every granule of old data is compared and replaced here first. Writing
    behind the walk is safe: only ranges already read change, and none gets allocated.
    """
    from ..ops import SPARSE_GRANULE, data_chunks

    for offset, view in data_chunks(part):
        theirs = memoryview(scratch.read_at(offset, len(view)))
        for start in range(0, len(view), SPARSE_GRANULE):
            end = min(start + SPARSE_GRANULE, len(view))
            if is_zero(view[start:end]) or theirs[start:end] == view[start:end]:
                continue
            if is_zero(theirs[start:end]):
                part.write_zeroes(offset + start, end - start)
            else:
                part.write_at(offset + start, theirs[start:end])


def copy_back(scratch, part) -> None:
    """Make ``part`` read exactly like ``scratch`` (the tool's result)."""
    from ..ops.convert import copy_device

    _overwrite_old_data(part, scratch)
    copy_device(scratch, part, "copy back")


@contextlib.contextmanager
def partition_file(image: str, offset: int, size: int):
    """Yield a scratch file holding the partition; copy it back into ``image`` on success."""
    from ..image import open_image
    from ..ops.convert import copy_device

    scratch_path = temp_name(image) + f".part{offset}"
    with open_image(image, writable=True) as dev:
        part = SliceDevice(dev, offset, size, name=f"{image} at offset {offset}")
        try:
            open(scratch_path, "wb").close()
            with FileDevice(scratch_path, writable=True) as scratch:
                scratch.resize(size)
                copy_device(part, scratch, "stage partition")
            yield scratch_path
            with FileDevice(scratch_path) as scratch:
                copy_back(scratch, part)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(scratch_path)


def tool_message(output: str) -> str | None:
    """The line of a tool's output that says what went wrong (wimlib marks it ``[ERROR]``)."""
    lines = [line.strip() for line in output.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line.removeprefix("[ERROR]").strip() for line in lines
              if line.startswith("[ERROR]")]
    if errors:
        return errors[0]
    return lines[-1] if lines else None


def _run(argv: list[str], what: str, show_progress: bool = False) -> None:
    """Run a tool; its own progress goes to our stderr when someone watches, its error is quoted."""
    from ..progress import showing

    passthrough = show_progress and showing()
    proc = subprocess.run(argv, stdout=sys.stderr if passthrough else subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace")
    if proc.returncode != 0:
        detail = tool_message((proc.stderr or "") + "\n" + (proc.stdout or ""))
        raise ToolFailed(f"{what} failed (exit code {proc.returncode})"
                         + (f": {detail}" if detail else ""), detail)


class ToolFailed(DiskkitError):
    """A Linux tool (mkntfs, wimapply) refused; ``detail`` is its own message."""

    def __init__(self, message: str, detail: str | None):
        super().__init__(message)
        self.detail = detail


def mkntfs(image: str, offset: int, size: int, label: str = "Windows") -> list[str]:
    """Quick-format the partition at ``offset`` as NTFS; return the command used.

    With ``SOURCE_DATE_EPOCH`` set the volume is reproducible: mkntfs's ``--zero-time`` makes
    its output the same every run, and the volume serial is then derived like every other
    identifier diskkit writes (``reproducible.unique_bytes``).
    """
    exe = _require("mkntfs", "ntfs-3g")
    argv = [exe, "--force", "--quick", "--quiet", "--sector-size", "512",
            "--partition-start", str(offset // 512), "--heads", "255",
            "--sectors-per-track", "63", "--label", label]
    fixed = source_date_epoch() is not None
    if fixed:
        argv.append("--zero-time")
    with partition_file(image, offset, size) as path:
        _run(argv + [path], "mkntfs")
        if fixed:
            _set_serial(path, unique_bytes(8, "ntfs-serial", offset, size))
    return argv + ["<partition>"]


def _set_serial(path: str, serial: bytes) -> None:
    """Write the volume serial into the boot sector and its backup in the volume's last sector."""
    region = FileRegion.open(path, True)
    try:
        last = region.file_size() // 512 * 512 - 512
        for at in (0, last):
            if boot_record(region.pread(at, 512)) == "ntfs":
                region.pwrite(at + 0x48, serial)
        region.sync()
    finally:
        region.close()


def wimapply(image: str, offset: int, size: int, wim: str, index: int) -> list[str]:
    """Apply ``wim`` image ``index`` onto the NTFS partition at ``offset`` (wimlib NTFS-3G mode)."""
    exe = _require("wimapply", "wimtools")
    if not os.path.isfile(wim):
        raise NotFound(f"{wim}: no such WIM file")
    if not is_ntfs(image, offset):
        raise DiskkitError(f"{image}: no NTFS volume at offset {offset}; format it first "
                           "(diskkit ramos init formats it when mkntfs is installed)")
    argv = [exe, wim, str(index)]
    with partition_file(image, offset, size) as path:
        _run(argv + [path], "wimapply", show_progress=True)
    return argv + ["<partition>"]


def deploy(image: str, wim: str, index: int, reformat: bool = False) -> dict:
    """The Linux share of the deploy: NTFS on the Windows partition, then the WIM applied.

    ``reformat`` formats the partition even when it holds NTFS already (a second deploy).
    Drivers, SVBus, the offline registry and bcdboot need Windows tools; the caller writes
    them into a .cmd for Windows.
    """
    from ..boot.target import read_facts

    facts = read_facts(image)
    offset, size = facts.windows_offset, facts.windows_size
    done = []
    fresh = reformat or not is_ntfs(image, offset)
    if fresh:
        mkntfs(image, offset, size)
        done.append(f"formatted partition {facts.windows_index} (offset {offset}) as NTFS with mkntfs")
    try:
        wimapply(image, offset, size, wim, index)
    except ToolFailed as exc:
        if fresh:
            raise
        raise DiskkitError(f"{exc}; partition {facts.windows_index} already held files "
                           "(a second deploy?): --reformat starts it fresh") from None
    done.append(f"applied {wim} image {index} to partition {facts.windows_index} with wimapply "
                "(NTFS-3G mode; no /Compact on Linux)")
    return {"image": image, "windows_offset": offset, "windows_size": size, "done": done}
