"""One error hierarchy: every failure a user can meet, each with its exit code and a hint."""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes, for every command (README documents the table).
EXIT_OK = 0
EXIT_FAILED = 1  # the check or operation failed: invalid file, unhealthy, deploy failed, rolled back
EXIT_USAGE = 2  # usage or configuration error
EXIT_EXTERNAL = 3  # an external system refused or was unreachable


@dataclass(frozen=True)
class Location:
    """A place in a file, 1-based line and column, for annotations and messages."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


class KarsError(Exception):
    """Base of every expected failure. Caught once, at the CLI edge, and turned into an exit code.

    ``message`` says what happened, ``hint`` what to do next. Neither may carry a secret: the CLI redacts
    registered secrets again before printing, but callers must not rely on that.
    """

    exit_code: int = EXIT_FAILED
    title: str = "Error"

    def __init__(self, message: str, *, hint: str | None = None, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.location = location

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message}"


class CheckFailed(KarsError):
    """The check or operation ran and its answer is no (exit 1)."""

    exit_code = EXIT_FAILED
    title = "Check failed"


class UsageError(KarsError):
    """The command was called wrongly: a missing path, conflicting flags (exit 2)."""

    exit_code = EXIT_USAGE
    title = "Usage error"


class ConfigError(KarsError):
    """kars.yml, an action input or an environment variable is wrong (exit 2)."""

    exit_code = EXIT_USAGE
    title = "Configuration error"


class ExternalError(KarsError):
    """A service (GitHub, Railway, a webhook) refused or could not be reached (exit 3)."""

    exit_code = EXIT_EXTERNAL
    title = "External service error"

    def __init__(
        self,
        message: str,
        *,
        service: str,
        hint: str | None = None,
        location: Location | None = None,
    ) -> None:
        super().__init__(f"{service}: {message}", hint=hint, location=location)
        self.service = service


class AuthError(ExternalError):
    """A token is missing, expired, of the wrong type, or lacks a permission."""

    title = "Authentication error"


class RateLimited(ExternalError):
    """A rate limit outlasted the deadline."""

    title = "Rate limited"


class DeadlineExceeded(KarsError):
    """A phase ran out of time while the outcome was still open (exit 1: the operation did not succeed)."""

    exit_code = EXIT_FAILED
    title = "Deadline exceeded"
