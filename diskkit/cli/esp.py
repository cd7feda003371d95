"""`diskkit esp` commands (being built)."""


def register(sub):
    pass
