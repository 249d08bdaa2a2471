"""One conformance run's state: built once by the plugin, read by the reports; below both."""

from __future__ import annotations

from dataclasses import dataclass, field

from .api import Api
from .launcher import EmbeddedServer
from .redact import Redactor
from .target import Target


@dataclass
class RunState:
    """Everything one conformance run holds: built once, torn down at the end of the session."""

    target: Target
    api: Api
    redact: Redactor
    embedded: EmbeddedServer | None = None
    seed: int = 0
    cleanup_problems: list[str] = field(default_factory=list)
    closed: bool = False
