"""`diskkit vhd` commands (being built)."""


def register(sub):
    pass
