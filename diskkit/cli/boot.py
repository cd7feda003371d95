"""`diskkit boot` commands (being built)."""


def register(sub):
    pass
