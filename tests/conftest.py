"""pytest wiring: the ``support`` package importable, and the session-wide fixtures."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from support import corpus as _corpus  # noqa: E402  (needs the path above)


@pytest.fixture(scope="session")
def corpus() -> _corpus.Corpus:
    """The foreign-image corpus, unpacked once per machine (see support/corpus.py); the test
    is skipped, naming the expected path, when the tarball is absent."""
    found = _corpus.load()
    if found is None:
        pytest.skip(f"foreign-image corpus not found at {_corpus.tarball()} (set DISKKIT_CORPUS)")
    return found
