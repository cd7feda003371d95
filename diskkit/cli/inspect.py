"""`diskkit inspect` commands (being built)."""


def register(sub):
    pass
