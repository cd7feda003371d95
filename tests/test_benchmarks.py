"""The benchmark harness: every bench module plugs in, rows and goals come out right, and
``run_all --write`` replaces only measured blocks. No timings are asserted."""

from __future__ import annotations

import os
import sys

import pytest

from benchmarks import harness, run_all


def test_every_bench_module_is_a_section():
    names = {f[len("bench_"):-3] for f in os.listdir(os.path.dirname(harness.__file__))
             if f.startswith("bench_") and f.endswith(".py")}
    missing = names - set(run_all.discover())
    assert not missing, (f"benchmarks/bench_{{{','.join(sorted(missing))}}}.py define no "
                         "benchmark(bench): run_all cannot measure them (see benchmarks/harness.py)")


def sample(seconds: float) -> harness.Sample:
    return harness.Sample(seconds, 10 * harness.MiB, seconds / 2)


def row(ours: float, peer: float, python: float = 0.03, ratio: float = 1.0) -> harness.Row:
    return harness.Row("job", "peer", [sample(ours)] * 3, [sample(peer)] * 3,
                       [sample(python)] * 3, harness.Goal(ratio))


@pytest.mark.parametrize("ours, peer, ratio, met", [
    (2.0, 2.0, 1.0, True), (2.1, 2.0, 1.0, False), (2.9, 2.0, 1.5, True),
    (0.084, 0.005, 1.0, True),   # short job: peer + interpreter start-up + 50 ms
    (0.09, 0.005, 1.0, False),
])
def test_goal(ours, peer, ratio, met):
    assert row(ours, peer, ratio=ratio).at_goal is met


def test_compare_runs_both_sides_and_verifies(tmp_path):
    out = tmp_path / "out"
    seen = []
    bench = harness.Bench(str(tmp_path), quick=True, rounds=2, echo=seen.append)
    made = harness.Side("ours", [[sys.executable, "-c", f"open({str(out)!r}, 'w').write('x')"]],
                        [str(out)], harness.remover(str(out)))
    result = bench.compare("write a file", made, harness.Side("true", [["true"]]),
                           verify=lambda: "exists" if out.exists() else "missing")
    assert len(result.ours) == len(result.peer) == len(result.python) == 2
    assert result.checked == "exists" and all(s.peak_rss > 0 for s in result.ours)
    assert "write a file" in seen[0] and "| write a file |" in harness.table(bench.rows)


def test_failing_command_is_a_bench_error(tmp_path):
    bench = harness.Bench(str(tmp_path), rounds=1, echo=None)
    with pytest.raises(harness.BenchError, match="false failed"):
        bench.compare("fails", harness.Side("ours", [["false"]]), harness.Side("t", [["true"]]))


def test_write_replaces_only_measured_blocks(tmp_path):
    doc = tmp_path / "perf.md"
    doc.write_text("# Title\nprose\n<!-- measured: summary -->\nold\n<!-- end measured: summary -->\n"
                   "<!-- measured: vhdx {} -->\nold table\n<!-- end measured: vhdx -->\ntail\n")
    bench = harness.Bench(str(tmp_path), rounds=1, echo=None)
    bench.rows.append(row(1.0, 2.0))
    block = run_all.section("vhdx", harness, bench, "today", "0.1 / 0.1 / 0.1")
    run_all.write(str(doc), {"vhdx": block})
    text = doc.read_text()
    assert text.startswith("# Title\nprose\n") and text.endswith("tail\n")
    assert "old" not in text and "| job |" in text
    assert "**1 of 1 rows at their goal.**" in text
    run_all.write(str(doc), {"fat": block.replace("vhdx", "fat")})  # a new section is appended
    text = doc.read_text()
    assert "**2 of 2 rows at their goal.**" in text
    assert "Not measured in this file yet: convert," in text
