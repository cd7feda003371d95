"""`diskkit image` commands (being built)."""


def register(sub):
    pass
