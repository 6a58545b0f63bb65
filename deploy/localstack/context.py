"""What filling moto's gaps did, and what each gap filler is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .clients import Clients
from .intrinsics import Resolver

Log = Callable[[str], None]


@dataclass
class Report:
    skipped_resources: list[str] = field(default_factory=list)  # logical ids moto's CloudFormation did not create
    applied: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    not_reproduced: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)


@dataclass
class Ctx:
    clients: Clients
    resolver: Resolver
    report: Report
    stack_name: str
    log: Log

    def applied(self, what: str) -> None:
        self.report.applied.append(what)
        self.log(f"applied (moto skipped it): {what}")

    def already(self, what: str) -> None:
        self.report.already.append(what)

    def not_reproduced(self, what: str) -> None:
        self.report.not_reproduced.append(what)
        self.log(f"not reproduced on moto: {what}")
