"""Progress bars for long copies: tqdm on an interactive stderr, silence otherwise."""

from __future__ import annotations

import sys

_enabled = None  # None: decide from the terminal; the CLI sets True/False from flags


def set_enabled(flag: bool | None) -> None:
    global _enabled
    _enabled = flag


def showing() -> bool:
    """Are progress bars shown: the flags, else whether someone watches stderr."""
    return _enabled if _enabled is not None else sys.stderr.isatty()


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def progress(total: int, desc: str, unit: str = "B"):
    """A context manager with ``update(n)``; a real bar only when someone is watching."""
    if not showing():
        return _Silent()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, unit_divisor=1024,
                leave=False, file=sys.stderr)
