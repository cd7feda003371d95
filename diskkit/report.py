"""Findings of every ``check``/``verify`` command, in one shape for text and --json.

Plain classes rather than dataclasses: every command imports this module, and the
dataclasses module (with the inspect module it loads) is about 7 ms of a short command's
start-up.
"""

from __future__ import annotations


class Problem:
    """One finding. ``severity`` is ``error`` (exit 1) or ``warning`` (reported, exit 0)."""

    __slots__ = ("where", "message", "offset", "severity")

    def __init__(self, where: str, message: str, offset: int | None = None,
                 severity: str = "error"):
        self.where = where  # layer and object: "vhd footer", "gpt backup header", "fat /EFI/BOOT"
        self.message = message
        self.offset = offset  # byte offset in the image (or partition) when it helps
        self.severity = severity

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.as_dict() == self.as_dict()

    def __repr__(self) -> str:
        return f"Problem({self.where!r}, {self.message!r}, {self.offset!r}, {self.severity!r})"

    def __str__(self) -> str:
        at = f" at offset {self.offset}" if self.offset is not None else ""
        return f"{self.severity}: {self.where}{at}: {self.message}"


class Report:
    """What a check found; ``subject`` names what was checked."""

    def __init__(self, subject: str, problems: list[Problem] | None = None,
                 facts: dict | None = None):
        self.subject = subject
        self.problems = [] if problems is None else problems
        self.facts = {} if facts is None else facts  # extra figures a check wants to show

    def __repr__(self) -> str:
        return f"Report({self.subject!r}, {self.problems!r}, {self.facts!r})"

    def error(self, where: str, message: str, offset: int | None = None) -> None:
        self.problems.append(Problem(where, message, offset, "error"))

    def warning(self, where: str, message: str, offset: int | None = None) -> None:
        self.problems.append(Problem(where, message, offset, "warning"))

    def extend(self, other: "Report") -> None:
        self.problems.extend(other.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def clean(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        return 0 if self.clean else 1

    def to_dict(self) -> dict:
        return {"subject": self.subject, "clean": self.clean,
                "problems": [p.as_dict() for p in self.problems], **self.facts}

    def to_text(self) -> str:
        lines = [str(p) for p in self.problems]
        lines.append(f"{self.subject}: " + ("clean" if self.clean else f"{len(self.errors)} problem(s)"))
        return "\n".join(lines)
