"""The release's time budget: what its own stages may take with a rollback after them — the total timeout of a
release given none, and the budget init writes into a workflow (total-timeout, and the job's timeout-minutes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from kars_actions.core.config import Config
from kars_actions.core.timing import human_duration
from kars_actions.release.context import ReleaseOptions

SETUP_MINUTES = 10  # check out with full history, set up Python and the action's virtualenv, read GitHub


@dataclass(frozen=True)
class TimeBudget:
    """The release's own time limit (total-timeout) and the job's (timeout-minutes), and what they are made of."""

    parts: tuple[tuple[str, float], ...]

    @property
    def seconds(self) -> int:
        return math.ceil(sum(seconds for _, seconds in self.parts))

    @property
    def job_minutes(self) -> int:
        return math.ceil(self.seconds / 60) + SETUP_MINUTES

    def made_of(self) -> str:
        """``deploy 15m00s + health 5m00s + … + rollback 20m00s``."""
        return " + ".join(f"{name} {human_duration(seconds)}" for name, seconds in self.parts)

    def describe(self) -> str:
        return (
            f"release budget {human_duration(self.seconds)} ({self.made_of()}); job timeout {self.job_minutes} min "
            f"(+{SETUP_MINUTES} min to check out and set up)"
        )

    def shortfall(self, total_timeout: float) -> str | None:
        """Why ``total_timeout`` is too short for these stages and a rollback after them; None when it is not."""
        if total_timeout >= self.seconds:
            return None
        return (
            f"the total timeout of {total_timeout:g}s (--timeout / total-timeout) is shorter than the {self.seconds}s "
            f"this release may need to finish its stages and roll back ({self.made_of()}): a failure late in the "
            "release could leave too little time to roll back and re-check the previous version; give at least "
            f"{self.seconds}s, or none"
        )


def time_budget(config: Config, options: ReleaseOptions | None = None) -> TimeBudget:
    """Deploy + health + settle + watch (+ the backup kars.yml asks for), then a rollback's wait and re-check: the
    release must be able to finish all of it on its own, before the job's limit ends it without a word."""
    from kars_actions.release.watch_state import settings_from_config

    options = options or ReleaseOptions()
    parts: list[tuple[str, float]] = []
    if config.backup is not None and config.backup.when != "never":
        parts.append(("backup", config.backup.timeout))
    parts += [("deploy", options.deploy_timeout), ("health", options.health_deadline), ("settle", options.settle)]
    watch = settings_from_config(config.watch, options.watch_duration).duration
    if watch > 0:
        parts.append(("watch", watch))
    parts.append(("rollback", options.deploy_timeout + options.health_deadline))
    return TimeBudget(tuple(parts))
