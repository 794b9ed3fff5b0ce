"""The world of the watch window and the backup (``tests/fakes/world.py``'s ``watch_world``): the real CLI in its
own process against the Railway simulator, which follows the CLI's virtual clock, so a 10-minute watch is 10
simulated minutes played in milliseconds."""

from tests.fakes.world import watch_world, world_fixture

world = world_fixture(watch_world)
