"""The release's world for the end-to-end tests (``tests/fakes/world.py``)."""

from tests.fakes.world import world_fixture

world = world_fixture()
