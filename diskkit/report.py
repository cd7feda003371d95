"""Findings of every ``check``/``verify`` command, in one shape for text and --json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Problem:
    """One finding. ``severity`` is ``error`` (exit 1) or ``warning`` (reported, exit 0)."""

    where: str  # the layer and object: "vhd footer", "gpt backup header", "fat /EFI/BOOT"
    message: str
    offset: int | None = None  # byte offset in the image (or partition) when it helps
    severity: str = "error"

    def __str__(self) -> str:
        at = f" at offset {self.offset}" if self.offset is not None else ""
        return f"{self.severity}: {self.where}{at}: {self.message}"


@dataclass
class Report:
    """What a check found; ``subject`` names what was checked."""

    subject: str
    problems: list[Problem] = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # extra figures a check wants to show

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
                "problems": [asdict(p) for p in self.problems], **self.facts}

    def to_text(self) -> str:
        lines = [str(p) for p in self.problems]
        lines.append(f"{self.subject}: " + ("clean" if self.clean else f"{len(self.errors)} problem(s)"))
        return "\n".join(lines)
