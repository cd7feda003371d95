"""Run every benchmark and print (or write into docs/performance.md) the measured tables.

    python3 -m benchmarks.run_all [--quick] [--rounds N] [--only vhdx,fat] [--dir /var/tmp]
                                  [--write docs/performance.md]

Every module ``benchmarks/bench_*.py`` that defines ``benchmark(bench)`` is a section. With
``--write``, each section's measured block (between its ``<!-- measured: NAME -->`` markers)
is replaced, so ``--only`` re-measures some sections and keeps the others; the block at the
top (machine, tool versions, load, rows at goal) is rebuilt from every section in the file.
Nothing in those blocks is typed by hand.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pkgutil
import platform
import re
import subprocess
import sys

from benchmarks import harness

ORDER = ["convert", "vhdx", "fat", "startup", "ntfs", "vhd", "part"]  # the rest follow, sorted
SUMMARY = "summary"


def discover() -> dict[str, object]:
    """``name -> module`` for every bench_*.py with a ``benchmark`` function, in ORDER."""
    found = {}
    for info in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
        if info.name.startswith("bench_"):
            module = importlib.import_module(f"benchmarks.{info.name}")
            if callable(getattr(module, "benchmark", None)):
                found[info.name[len("bench_"):]] = module
    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(ORDER)), kv[0])))


PEER_PACKAGES = ["qemu-utils", "dosfstools", "mtools", "gdisk", "ntfs-3g"]


def peer_versions() -> str:
    """The Debian packages of the peer tools, with their versions."""
    try:
        proc = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
                               *PEER_PACKAGES], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "peer versions unknown (no dpkg-query)"
    return ", ".join(proc.stdout.split("\n")[:-1]) or "peer versions unknown"


def machine() -> str:
    """One paragraph: CPU, cores, memory, kernel, Python and the peers' versions."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh
                        if line.startswith("model name")), "?")
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / harness.GiB
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}; {peer_versions()}")


def load_text() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def section(name: str, module, bench: harness.Bench, started: str, load_start: str) -> str:
    """The measured block of one benchmark, with its facts in a machine-readable comment."""
    title = (module.__doc__ or name).strip().splitlines()[0].rstrip(".").replace("``", "`")
    rows = bench.rows
    loads = [x for row in rows for x in row.load]
    facts = {"rows": len(rows), "at_goal": sum(r.at_goal for r in rows),
             "not_at_goal": [r.job for r in rows if not r.at_goal],
             "load": [round(min(loads), 2), round(max(loads), 2)] if loads else [], "when": started,
             "quick": bench.quick}
    lines = [f"<!-- measured: {name} {json.dumps(facts, ensure_ascii=False)} -->",
             f"### {title}", "",
             f"`benchmarks/bench_{name}.py`, measured {started}"
             f"{' (quick: smaller workloads)' if bench.quick else ''}, {bench.rounds} rounds; "
             f"load average (1 / 5 / 15 min) at start {load_start}, at end {load_text()}.", ""]
    if bench.skipped:
        lines.append(f"Skipped: {bench.skipped}.")
    else:
        lines.append(harness.table(rows))
    if bench.notes:
        lines += [""] + bench.notes
    lines.append(f"<!-- end measured: {name} -->")
    return "\n".join(lines)


def summary(doc: str, cores: int | None, sections: list[str]) -> str:
    """The top block, rebuilt from every section's facts comment; ``sections``: all there are."""
    facts = [json.loads(m.group(2)) | {"name": m.group(1)}
             for m in re.finditer(r"<!-- measured: (\w+) (\{.*\}) -->", doc)]
    rows = sum(f["rows"] for f in facts)
    at_goal = sum(f["at_goal"] for f in facts)
    loads = [x for f in facts for x in f["load"]]
    whens = [f["when"] for f in facts] or ["never"]
    missing = [f"{job} ({f['name']})" for f in facts for job in f["not_at_goal"]]
    unmeasured = [name for name in sections if name not in {f["name"] for f in facts}]
    lines = [f"<!-- measured: {SUMMARY} -->",
             f"Machine: {machine()}.", "",
             f"Sections measured {' to '.join(sorted({min(whens), max(whens)}))}; "
             + (f"1-minute load average during the rows {min(loads):.1f}–{max(loads):.1f} on "
                f"{cores} cores ({'quiet' if max(loads) < 0.5 * (cores or 1) else 'noisy: other work was running; compare the ratios, whose pairs ran side by side, more than the times'})."
                if loads else "no rows."), "",
             f"**{at_goal} of {rows} rows at their goal.**"
             + (" Not yet: " + "; ".join(missing) + "." if missing else ""),
             *([f"\nNot measured in this file yet: {', '.join(unmeasured)}."]
               if unmeasured else []),
             f"<!-- end measured: {SUMMARY} -->"]
    if any(f["quick"] for f in facts):
        lines.insert(-1, "\nSome sections are quick runs (smaller workloads): re-measure them "
                     "full size before quoting them.")
    return "\n".join(lines)


def replace_block(doc: str, name: str, block: str) -> str:
    """Put ``block`` where ``name``'s measured block is, or at the end of the file."""
    pattern = re.compile(rf"<!-- measured: {name}\b.*?<!-- end measured: {name} -->", re.S)
    if pattern.search(doc):
        return pattern.sub(lambda _: block, doc, count=1)
    return doc.rstrip("\n") + "\n\n" + block + "\n"


def write(path: str, blocks: dict[str, str]) -> None:
    with open(path, encoding="utf-8") as fh:
        doc = fh.read()
    for name, block in blocks.items():
        doc = replace_block(doc, name, block)
    doc = replace_block(doc, SUMMARY, summary(doc, os.cpu_count(), list(discover())))
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(doc)
    os.replace(tmp, path)


def main() -> int:
    parser = harness.arguments(__doc__.splitlines()[0])
    parser.add_argument("--only", default="",
                        help="comma-separated sections (e.g. vhdx,fat); default: all")
    parser.add_argument("--write", metavar="DOC",
                        help="replace the measured blocks of this markdown file (docs/performance.md)")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    args = parser.parse_args()
    modules = discover()
    if args.list:
        for name, module in modules.items():
            print(f"{name:10} {(module.__doc__ or '').strip().splitlines()[0]}")
        return 0
    wanted = [w for w in args.only.split(",") if w]
    unknown = [w for w in wanted if w not in modules]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)} (have: {', '.join(modules)})")
    failed = []
    for name, module in modules.items():
        if wanted and name not in wanted:
            continue
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        load_start = load_text()
        print(f"{name}: {(module.__doc__ or '').strip().splitlines()[0]} (load {load_start})",
              flush=True)
        try:
            bench = harness.run(module.benchmark, args.quick, args.rounds, args.dir,
                                lambda line: print(line, flush=True))
        except (harness.BenchError, OSError, subprocess.CalledProcessError) as exc:
            print(f"  FAILED: {exc}", flush=True)
            failed.append(name)
            continue
        block = section(name, module, bench, started, load_start)
        if args.write:  # section by section, so an interrupted run keeps what it measured
            write(args.write, {name: block})
            print(f"  wrote {name} into {args.write}", flush=True)
        else:
            print("\n" + block, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
