"""Words in output: a count with its noun in the right number ("1 seed", "2 seeds")."""


def counted(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
