"""Error types.  Every message says what was wrong, where, what is allowed and how to fix it."""
from __future__ import annotations


class ScanInputError(ValueError):
    """Bad input data: names the file, line and field (or the array and index)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None):
        where = []
        if file is not None:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
        self.file, self.line, self.field = file, line, field


class ScanParameterError(ValueError):
    """A parameter out of range: names the parameter, what is allowed, what was given, and the fix."""

    def __init__(self, name: str, allowed: str, given, fix: str | None = None, *,
                 flag: str | None = None):
        where = f"'{name}' ({flag})" if flag and flag.lstrip("-") != name else f"'{name}'"
        msg = f"parameter {where} must be {allowed}; got {given!r}"
        if fix:
            msg += f". {fix}"
        super().__init__(msg)
        self.name, self.flag = name, flag


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ScanParameterError(name, "one of " + ", ".join(repr(c) for c in choices), value)


class ScanRunError(RuntimeError):
    """A failure while running (a cluster that stopped answering, a worker that kept failing):
    the input was fine; the command exits with code 1."""
