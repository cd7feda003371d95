"""`diskkit.synth` generation speed: 1,000 synthetic images in one process, against a shell
loop making images of the same kind with the C tools, whole process, same run.

    python3 -m benchmarks.bench_synth [--quick] [--rounds N] [--dir /var/tmp]

diskkit draws and writes seeds 0..999 (`describe(seed)` + `build`: raw, VHD and VHDX
containers, GPT, MBR or no table, FAT volumes at their cluster-count edges with their file
trees; at most 64 MiB each, sparse), keeping only the last file. The peer makes the same number
of fixed images the way a test script would: `truncate`, `sgdisk` (an ESP and a data
partition), `mkfs.fat -F 32 --offset`, `mmd` and `mcopy` of one file. The time per image and
the peak memory (goal: under 200 MiB) are printed under the table. Timing rules:
benchmarks/harness.py. `--generate N DIR` is the diskkit side's own entry point.
"""

from __future__ import annotations

import json
import os
import sys

from benchmarks.harness import PYTHON, Bench, BenchError, Side, check_output, main, median, \
    need, remover

COUNT = 1000
PEER = r"""
set -e
count=$1 dir=$2 prev=
printf 'echo hello\n' > "$dir/grub.cfg"
for i in $(seq 1 "$count"); do
  img="$dir/peer-$i.img"
  truncate -s 64M "$img"
  sgdisk -q -n 1:1M:+34M -t 1:ef00 -n 2:0:0 -t 2:8300 "$img" > /dev/null
  mkfs.fat -F 32 -S 512 -s 1 --offset 2048 "$img" 34816 > /dev/null
  mmd -i "$img@@1M" ::/EFI ::/EFI/BOOT
  mcopy -i "$img@@1M" "$dir/grub.cfg" ::/EFI/BOOT/grub.cfg
  if [ -n "$prev" ]; then rm -f "$prev"; fi
  prev=$img
done
"""


def generate(count: int, directory: str) -> None:
    """Build seeds 0..count-1 into ``directory``, keeping the last image and its description."""
    from diskkit.synth import describe, make

    previous = None
    for seed in range(count):
        img = make(describe(seed), os.path.join(directory, f"synth-{seed}"))  # no fsync
        if previous:
            os.unlink(previous)
        previous = img.path
    with open(os.path.join(directory, "last.json"), "w") as fh:
        json.dump({"path": img.path, **img.description.to_dict()}, fh)


def benchmark(bench: Bench) -> None:
    missing = need("sgdisk", "mkfs.fat", "mmd", "mcopy", "qemu-img")
    if missing:
        return bench.skip(f"{', '.join(missing)} not installed")
    count = bench.scale(COUNT)
    ours_dir, peer_dir = bench.path("synth"), bench.path("peer")
    os.makedirs(ours_dir, exist_ok=True)
    os.makedirs(peer_dir, exist_ok=True)

    def fresh(directory: str):
        return lambda: (remover(directory)(), os.makedirs(directory))

    def check() -> str:
        """The last image of each side opens in an independent reader."""
        with open(os.path.join(ours_dir, "last.json")) as fh:
            last = json.load(fh)
        kind = last["container"]["kind"]
        fmt = {"raw": "raw", "fixed": "vpc", "dynamic": "vpc"}.get(kind, "vhdx")
        if fmt != "vhdx" or (last["table"] or last["filesystem"] or {}).get("sector_size") == 512:
            check_output(["qemu-img", "info", "-f", fmt, last["path"]], "qemu-img info")
        check_output(["mdir", "-i", f"{os.path.join(peer_dir, f'peer-{count}.img')}@@1M",
                      "::/EFI/BOOT"], "mdir")
        return "last images read by qemu-img and mtools"

    row = bench.compare(
        f"{count:,} synthetic images",
        Side("diskkit", [[PYTHON, "-m", "benchmarks.bench_synth", "--generate", str(count),
                          ours_dir]], [], fresh(ours_dir)),
        Side("truncate + sgdisk + mkfs.fat + mmd + mcopy", [["bash", "-c", PEER, "peer",
                                                            str(count), peer_dir]], [],
             fresh(peer_dir)),
        verify=check, rounds=1 if not bench.quick else 2)
    per_ours, per_peer = median(row.ours) / count, median(row.peer) / count
    peak = max(s.peak_rss for s in row.ours) >> 20
    bench.note(f"Per image: diskkit {per_ours * 1000:.1f} ms (varied layouts, FAT volumes with "
               f"file trees), the shell loop {per_peer * 1000:.1f} ms (one fixed layout, one "
               f"file); diskkit's peak memory {peak} MiB (goal: under 200 MiB).")
    if peak >= 200:
        raise BenchError(f"synth used {peak} MiB, over the 200 MiB goal")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--generate"]:
        generate(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    sys.exit(main(benchmark, __doc__))
