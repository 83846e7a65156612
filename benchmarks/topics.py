"""Time FilterTrie.match for one 4-level topic as the number of stored filters grows.

Run: .venv/bin/python benchmarks/topics.py

Every trie holds the same four filters that match the topic, plus random filters that do not
(levels from a vocabulary the topic never uses, with '+' and '#' mixed in), so each
match returns the same four values and any growth in time would be the cost of the filters that
were stored but not matched. Brute force (``matches`` over every filter) is shown for contrast.
"""

from __future__ import annotations

import random
import timeit
from collections.abc import Callable
from functools import partial

from asyncmqtt.protocol.topics import FilterTrie, matches

TOPIC = "site/floor3/room12/temperature"
MATCHING_FILTERS = ("site/floor3/room12/temperature", "site/+/room12/#", "+/floor3/#", "#")
SIZES = (10, 1_000, 100_000)
VOCABULARY = [f"w{i}" for i in range(200)]  # no level of TOPIC is in it


def random_filter(rng: random.Random) -> str:
    levels = [
        "+" if rng.random() < 0.15 else rng.choice(VOCABULARY) for _ in range(rng.randint(1, 5))
    ]
    if rng.random() < 0.15:
        levels.append("#")
    return "/".join(levels)


def build_filters(count: int, rng: random.Random) -> list[str]:
    filters = list(MATCHING_FILTERS)
    while len(filters) < count:
        topic_filter = random_filter(rng)
        if not matches(topic_filter, TOPIC):  # "+/+/+/+" or "+/#" could match; leave them out
            filters.append(topic_filter)
    return filters


def brute_force(filters: list[str], topic: str) -> list[int]:
    return [value for value, topic_filter in enumerate(filters) if matches(topic_filter, topic)]


def nanoseconds_per_call(function: Callable[[], object], repeat: int = 5) -> float:
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    best = min(timer.repeat(repeat=repeat, number=number))
    return best / number * 1e9


def main() -> None:
    rng = random.Random(2024)
    print(f"topic: {TOPIC!r}; {len(MATCHING_FILTERS)} of the filters match it")
    print(f"{'filters':>9} {'trie ns/match':>14} {'brute force ns/match':>21}")
    for count in SIZES:
        filters = build_filters(count, rng)
        trie: FilterTrie[int] = FilterTrie()
        for value, topic_filter in enumerate(filters):
            trie.add(topic_filter, value)
        assert sorted(trie.match(TOPIC)) == list(range(len(MATCHING_FILTERS)))

        trie_ns = nanoseconds_per_call(partial(trie.match, TOPIC))
        if count <= 1_000:
            brute_ns = nanoseconds_per_call(partial(brute_force, filters, TOPIC))
            brute = f"{brute_ns:21,.0f}"
        else:
            brute = f"{'(skipped)':>21}"
        print(f"{count:>9,} {trie_ns:14,.0f} {brute}")


if __name__ == "__main__":
    main()
