"""`diskkit vmdk` commands (being built)."""


def register(sub):
    pass
