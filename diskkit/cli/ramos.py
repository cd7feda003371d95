"""`diskkit ramos` commands (being built)."""


def register(sub):
    pass
