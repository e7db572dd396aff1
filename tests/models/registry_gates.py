"""A custom gate importable by path, as users write them."""


def never(candidate, why: str) -> tuple[bool, str]:
    return False, why
