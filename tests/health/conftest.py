"""A clock whose sleeps pass at once, so polling tests run at the speed of the loopback servers."""

from __future__ import annotations

import pytest

from tests.fakes.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)
