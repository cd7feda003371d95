"""`diskkit part` commands (being built)."""


def register(sub):
    pass
