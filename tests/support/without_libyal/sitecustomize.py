"""Run the suite as on a machine without the libyal Python bindings (they are optional).

    PYTHONPATH=tests/support/without_libyal:$PWD python3 -m pytest -rs

Python imports ``sitecustomize`` at start-up, in the test process and in every diskkit or
oracle process a test starts (they inherit PYTHONPATH); this one makes importing a binding
fail as if it were not installed, so ``need_module`` skips naming it.
"""

import sys

HIDDEN = {"pyvhdi", "pyvsgpt", "pyvsmbr", "pyfsfat", "pyfsntfs"}


class _Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
