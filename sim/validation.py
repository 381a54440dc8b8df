"""`gridsim validate` (being written)."""


def add_commands(sub) -> None:
    pass
