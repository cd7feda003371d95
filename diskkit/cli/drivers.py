"""`diskkit drivers` commands (being built)."""


def register(sub):
    pass
