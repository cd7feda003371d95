"""`diskkit fat` commands (being built)."""


def register(sub):
    pass
