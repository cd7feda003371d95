"""`diskkit resize` commands (being built)."""


def register(sub):
    pass
