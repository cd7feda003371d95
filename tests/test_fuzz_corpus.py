"""Replay the fuzz seed corpus and every input that ever crashed, in process and through the CLI.

In process: each target's parser pipeline may raise only DiskkitError, must finish within
seconds and must not allocate more than a small multiple of the input (nothing sized by an
unchecked header field). Through the CLI: the read-only commands exit 0/1/2 with at most one
``diskkit: error:`` line and never a traceback.

A known, still-unfixed crash is kept as ``fixtures/crashes/<target>/<name>`` with a sidecar
``<name>.xfail`` holding the bug description; its tests are xfail (non-strict) until fixed.
"""

from __future__ import annotations

import pytest

from benchmarks.fuzz_targets import CRASH_DIR, FUZZ_DIR, TARGETS
from support import assert_command, diskkit_many
from support.reliability import assert_clean_outcome, memory_limit, time_limit, write_sparse

MEMORY_LIMIT = 96 << 20  # templates are up to 33 MiB and shared, not copied per input


def corpus() -> list:
    cases = []
    for name, target in TARGETS.items():
        for folder in (FUZZ_DIR / name, CRASH_DIR / name):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.suffix == ".xfail" or not path.is_file():
                    continue
                marks = []
                note = path.with_name(path.name + ".xfail")
                if note.exists():
                    marks.append(pytest.mark.xfail(reason=note.read_text().strip(), strict=False))
                cases.append(pytest.param(name, path, marks=marks,
                                          id=f"{name}/{path.parent.name}/{path.name}"))
    return cases


CASES = corpus()


def test_every_target_has_seeds():
    """No target fuzzes from nothing: each has a seed folder with at least one input."""
    for name in TARGETS:
        folder = FUZZ_DIR / name
        assert folder.is_dir() and any(folder.iterdir()), f"no seeds for {name}"


@pytest.mark.parametrize("name,path", CASES)
def test_parser_pipeline(name, path):
    from diskkit.errors import DiskkitError

    target = TARGETS[name]
    target.load()
    data = path.read_bytes()
    with time_limit(20, f"{name} {path.name}"), memory_limit(MEMORY_LIMIT + 8 * len(data),
                                                             f"{name} {path.name}"):
        try:
            target.run(data)
        except DiskkitError as exc:
            message = str(exc)
            assert message and "\n" not in message, f"error message not one line: {message!r}"


@pytest.mark.parametrize("name", list(TARGETS))
def test_read_only_commands(name, tmp_path):
    """Every corpus input of a target through every read-only command that exists."""
    target = TARGETS[name]
    commands = target.commands
    for command in commands:
        assert_command(*command)
    inputs = [p for case in CASES if case.values[0] == name for p in [case.values[1]]]
    runs, labels = [], []
    for i, path in enumerate(inputs):
        folder = tmp_path / f"in{i}"  # {dir}: a folder holding just this input
        folder.mkdir()
        image = folder / f"input{target.suffix}"
        write_sparse(image, target.image(path.read_bytes()))
        for command in commands:
            runs.append([{"{img}": str(image), "{dir}": str(folder)}.get(w, w) for w in command])
            labels.append(f"{path.parent.name}/{path.name}: diskkit {' '.join(command)}")
    failures = []
    for label, proc in zip(labels, diskkit_many(runs, timeout=60)):
        try:
            assert_clean_outcome(proc, label)
        except AssertionError as exc:
            failures.append(str(exc))
    known_bugs = [f"/{note.name[:-len('.xfail')]}:" for note in CRASH_DIR.glob(f"{name}/*.xfail")]
    if failures and all(any(bug in f for bug in known_bugs) for f in failures):
        pytest.xfail("only inputs with a recorded, unfixed bug fail:\n" + "\n".join(failures))
    assert not failures, "\n\n".join(failures[:5]) + f"\n({len(failures)} failures)"


def test_crash_inputs_are_kept_with_their_target():
    """fixtures/crashes holds only folders named after targets (so every crash is replayed)."""
    if not CRASH_DIR.exists():
        return
    for folder in CRASH_DIR.iterdir():
        if folder.is_dir():
            assert folder.name in TARGETS, f"{folder}: not a fuzz target, so never replayed"
