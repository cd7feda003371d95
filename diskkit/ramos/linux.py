"""What Linux can do to the Windows partition of a RAMOS VHD: mkntfs and wimapply.

Both tools write a whole file or device and know nothing of partitions inside an image, and
attaching a loop device at an offset needs root. So the partition is staged in a sparse
scratch file beside the image (only its allocated, non-zero ranges are copied), the tool runs
on it, and the result is copied back the same way. The image must be raw or a fixed VHD, whose disk bytes start at file
offset 0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

from ..blockdev import COPY_CHUNK, FileRegion, is_zero, open_host_file, punch_hole
from ..errors import DiskkitError, NotFound, Unsupported
from ..fileio import temp_name

NTFS_OEM_ID = b"NTFS    "


def tool(name: str) -> str | None:
    return shutil.which(name)


def _require(name: str, package: str) -> str:
    path = tool(name)
    if not path:
        raise NotFound(f"{name} not found: install {package} (Debian: apt-get install {package})")
    return path


def _check_flat(image: str) -> None:
    from ..image import open_image

    with open_image(image) as dev:
        container = getattr(dev, "container", "raw")
    if container not in ("raw", "fixed"):
        raise Unsupported(f"{image}: is a {container} VHD; mkntfs/wimapply need a fixed VHD "
                          "(diskkit convert IN OUT --to fixed)")


def is_ntfs(image: str, offset: int) -> bool:
    """Does an NTFS boot sector sit at ``offset``?"""
    fh = open_host_file(image, False)
    try:
        return FileRegion(fh, image).pread(offset + 3, 8) == NTFS_OEM_ID
    finally:
        fh.close()


def _zero(dst: FileRegion, offset: int, length: int) -> None:
    """Make ``dst`` read zeros there, touching only chunks that hold data (so a preallocated
    image keeps its blocks): a hole where the filesystem can, written zeros if not."""
    for start, n in list(dst.data_ranges(offset, offset + length)):
        for pos in range(start, start + n, COPY_CHUNK):
            chunk = min(COPY_CHUNK, start + n - pos)
            if not is_zero(dst.pread(pos, chunk)) and not punch_hole(dst.fd, pos, chunk):
                dst.pwrite(pos, bytes(chunk))


def _copy(src: FileRegion, dst: FileRegion, src_off: int, dst_off: int, length: int,
          clear: bool) -> None:
    """Copy ``src[src_off:+length]`` to ``dst_off``, reading only its allocated ranges.

    Zero chunks are skipped; with ``clear`` (``dst`` may hold old data) they and the holes
    of ``src`` are zeroed in ``dst`` too.
    """
    done = src_off
    for start, n in list(src.data_ranges(src_off, src_off + length)) + [(src_off + length, 0)]:
        if clear and start > done:
            _zero(dst, dst_off + done - src_off, start - done)
        pos, end = start, start + n
        while pos < end:
            chunk = min(COPY_CHUNK, end - pos)
            data = src.pread(pos, chunk)
            if not is_zero(data):
                dst.pwrite(dst_off + (pos - src_off), data)
            elif clear:
                _zero(dst, dst_off + pos - src_off, chunk)
            pos += chunk
        done = end


@contextlib.contextmanager
def partition_file(image: str, offset: int, size: int):
    """Yield a scratch file holding the partition; copy it back into ``image`` on success."""
    _check_flat(image)
    scratch_path = temp_name(image) + f".part{offset}"
    img = FileRegion(open_host_file(image, True), image)
    try:
        with open(scratch_path, "wb+", buffering=0) as fh:
            scratch = FileRegion(fh, scratch_path)
            scratch.truncate(size)
            _copy(img, scratch, offset, 0, size, clear=False)
            yield scratch_path
            _copy(scratch, img, 0, offset, size, clear=True)
            img.sync()
    finally:
        img.close()
        with contextlib.suppress(OSError):
            os.unlink(scratch_path)


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise DiskkitError(f"{what} failed (exit code {proc.returncode})"
                           + (f": {detail[-1]}" if detail else ""))


def mkntfs(image: str, offset: int, size: int, label: str = "Windows") -> list[str]:
    """Quick-format the partition at ``offset`` as NTFS; return the command used."""
    exe = _require("mkntfs", "ntfs-3g")
    argv = [exe, "--force", "--quick", "--quiet", "--sector-size", "512",
            "--partition-start", str(offset // 512), "--heads", "255",
            "--sectors-per-track", "63", "--label", label]
    with partition_file(image, offset, size) as path:
        _run(argv + [path], "mkntfs")
    return argv + ["<partition>"]


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
        _run(argv + [path], "wimapply")
    return argv + ["<partition>"]


def deploy(image: str, wim: str, index: int) -> dict:
    """The Linux share of the deploy: NTFS on the Windows partition, then the WIM applied.

    Drivers, SVBus, the offline registry and bcdboot need Windows tools; the caller writes
    them into a .cmd for Windows.
    """
    from ..boot.target import read_facts

    facts = read_facts(image)
    offset, size = facts.windows_offset, facts.windows_size
    done = []
    if not is_ntfs(image, offset):
        mkntfs(image, offset, size)
        done.append(f"formatted partition {facts.windows_index} (offset {offset}) as NTFS with mkntfs")
    wimapply(image, offset, size, wim, index)
    done.append(f"applied {wim} image {index} to partition {facts.windows_index} with wimapply "
                "(NTFS-3G mode; no /Compact on Linux)")
    return {"image": image, "windows_offset": offset, "windows_size": size, "done": done}
