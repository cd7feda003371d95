"""`diskkit convert` commands (being built)."""


def register(sub):
    pass
