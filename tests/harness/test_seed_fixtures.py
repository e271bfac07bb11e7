"""SeedFixtures: one seed's fixtures per process, the last seed's released first."""

import gc
import weakref

from wae_bench.tasks.base import SeedFixtures


class Fixtures:
    def __init__(self, seed):
        self.seed = seed


class CountingTask:
    """A task whose fixtures record each build and whether the previous seed's were alive."""

    def __init__(self):
        self.built, self.alive_at_build, self.last = [], [], None

    def fixtures(self, ctx, seed):
        gc.collect()
        self.alive_at_build.append(self.last is not None and self.last() is not None)
        fixtures = Fixtures(seed)
        self.built.append(seed)
        self.last = weakref.ref(fixtures)
        return fixtures


def test_a_seed_is_built_once_and_the_last_seed_is_released_before_the_next_is_built():
    task = CountingTask()
    cache = SeedFixtures(task, ctx=None)
    first = cache.of(0)
    assert cache.of(0) is first
    del first
    assert cache.of(1).seed == 1
    assert cache.of(1).seed == 1
    assert task.built == [0, 1]
    assert task.alive_at_build == [False, False]
