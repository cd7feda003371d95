"""`diskkit vm` commands (being built)."""


def register(sub):
    pass
