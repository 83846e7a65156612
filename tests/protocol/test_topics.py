"""Topic names and filters: validation, matching, shared subscriptions and the filter trie."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncmqtt.protocol.topics import (
    MAX_TOPIC_BYTES,
    FilterTrie,
    has_wildcard,
    matches,
    parse_shared_subscription,
    validate_topic_filter,
    validate_topic_name,
)

LONGEST_ASCII = "a" * MAX_TOPIC_BYTES
TOO_LONG_ASCII = "a" * (MAX_TOPIC_BYTES + 1)
LONGEST_TWO_BYTE = "é" * (MAX_TOPIC_BYTES // 2)  # 65534 bytes
TOO_LONG_TWO_BYTE = "é" * (MAX_TOPIC_BYTES // 2 + 1)  # 65536 bytes, but only 32768 characters


def assert_names_value(error: Exception, value: str) -> None:
    """The message quotes the offending value (the start of it, when it is very long)."""
    assert repr(value)[:40] in str(error)


# --- topic names ---------------------------------------------------------------------------

VALID_NAMES = [
    "a",
    "/",
    "//",
    " ",
    "a/b/c",
    "sport/tennis/player1",
    "/finance",
    "$SYS/broker/uptime",
    "$share/group/a",  # only a filter is read as a shared subscription
    "é/ü/😀",
    "\x01 control characters are discouraged, not forbidden",
    LONGEST_ASCII,
    LONGEST_TWO_BYTE,
]

INVALID_NAMES = [
    ("", "must not be empty"),
    ("a\x00b", "must not contain the null character U+0000"),
    ("a/\ud800", "lone surrogate"),
    (TOO_LONG_ASCII, "at most 65535 bytes encoded as UTF-8, not 65536"),
    (TOO_LONG_TWO_BYTE, "at most 65535 bytes encoded as UTF-8, not 65536"),
    ("a/+", "must not contain the wildcards '+' or '#'"),
    ("+", "must not contain the wildcards '+' or '#'"),
    ("a/#", "must not contain the wildcards '+' or '#'"),
    ("a#b", "must not contain the wildcards '+' or '#'"),
]


@pytest.mark.parametrize("topic", VALID_NAMES, ids=lambda t: repr(t)[:30])
def test_valid_topic_names_pass(topic: str) -> None:
    validate_topic_name(topic)


@pytest.mark.parametrize(("topic", "rule"), INVALID_NAMES, ids=lambda t: repr(t)[:30])
def test_invalid_topic_names_raise_naming_value_and_rule(topic: str, rule: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_topic_name(topic)
    assert str(caught.value).startswith("topic name ")
    assert rule in str(caught.value)
    assert_names_value(caught.value, topic)


@pytest.mark.parametrize("value", [5, b"a/b", None])
def test_topic_name_must_be_str(value: object) -> None:
    with pytest.raises(TypeError) as caught:
        validate_topic_name(value)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"topic name must be a str, not {type(value).__name__}")
    assert repr(value) in message


def test_very_long_value_is_shortened_in_the_message() -> None:
    with pytest.raises(ValueError) as caught:
        validate_topic_name(TOO_LONG_ASCII)
    message = str(caught.value)
    assert len(message) < 300
    assert "(65536 characters)" in message


# --- topic filters -------------------------------------------------------------------------

VALID_FILTERS = [
    "#",
    "+",
    "+/+",
    "/+",
    "a//b",
    "sport/#",
    "sport/tennis/#",
    "sport/tennis/player1",
    "sport/+/player1",
    "+/tennis/#",
    "+/+/#",
    "$SYS/#",
    "$SYS/monitor/+",
    "$share/group/#",
    "$share/group/a/+/b",
    "$share/group//",
    "$share/g/$SYS/+",
    "$sharefoo/a",  # not a shared subscription: the first level is not exactly "$share"
    "$shar",
    "é/+/😀",
    LONGEST_ASCII,
]

INVALID_FILTERS = [
    ("", "must not be empty"),
    ("a\x00/#", "must not contain the null character U+0000"),
    ("\udfff/#", "lone surrogate"),
    (TOO_LONG_ASCII, "at most 65535 bytes encoded as UTF-8, not 65536"),
    (TOO_LONG_TWO_BYTE, "at most 65535 bytes encoded as UTF-8, not 65536"),
    ("sport/tennis#", "'#' only as the whole last level"),
    ("sport/tennis/#/ranking", "'#' only as the whole last level"),
    ("#/", "'#' only as the whole last level"),
    ("##", "'#' only as the whole last level"),
    ("a/#b", "'#' only as the whole last level"),
    ("sport+", "'+' only as a whole level"),
    ("+a/b", "'+' only as a whole level"),
    ("a/b+", "'+' only as a whole level"),
    ("++", "'+' only as a whole level"),
    ("$share", "form '$share/{ShareName}/{filter}'"),
    ("$share/", "form '$share/{ShareName}/{filter}'"),
    ("$share/group", "form '$share/{ShareName}/{filter}'"),
    ("$share//a", "non-empty share name"),
    ("$share/g+/a", "share name must not contain '+' or '#'"),
    ("$share/#/a", "share name must not contain '+' or '#'"),
    ("$share/group/", "non-empty filter after the share name"),
    ("$share/group/a#", "'#' only as the whole last level"),
    ("$share/group/#/a", "'#' only as the whole last level"),
    ("$share/group/a+", "'+' only as a whole level"),
]


@pytest.mark.parametrize("topic_filter", VALID_FILTERS, ids=lambda t: repr(t)[:30])
def test_valid_topic_filters_pass(topic_filter: str) -> None:
    validate_topic_filter(topic_filter)


@pytest.mark.parametrize(("topic_filter", "rule"), INVALID_FILTERS, ids=lambda t: repr(t)[:30])
def test_invalid_topic_filters_raise_naming_value_and_rule(topic_filter: str, rule: str) -> None:
    with pytest.raises(ValueError) as caught:
        validate_topic_filter(topic_filter)
    message = str(caught.value)
    assert message.startswith(("topic filter ", "shared subscription"))
    assert rule in message
    assert_names_value(caught.value, topic_filter)


@pytest.mark.parametrize("value", [5, b"a/#", ["a"]])
def test_topic_filter_must_be_str(value: object) -> None:
    with pytest.raises(TypeError) as caught:
        validate_topic_filter(value)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.startswith(f"topic filter must be a str, not {type(value).__name__}")
    assert repr(value) in message


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        ("$share/group/a/b", ("group", "a/b")),
        ("$share/group/#", ("group", "#")),
        ("$share/g//", ("g", "/")),
        ("$share/g/$share/h/x", ("g", "$share/h/x")),
        ("a/b", (None, "a/b")),
        ("$sharefoo/a", (None, "$sharefoo/a")),
        ("share/g/a", (None, "share/g/a")),
        ("$share/group", (None, "$share/group")),  # invalid; not read as shared
    ],
)
def test_parse_shared_subscription(topic_filter: str, expected: tuple[str | None, str]) -> None:
    assert parse_shared_subscription(topic_filter) == expected


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [("a/b", False), ("$SYS/x", False), ("+", True), ("a/#", True), ("$share/g/a/+", True)],
)
def test_has_wildcard(topic_filter: str, expected: bool) -> None:
    assert has_wildcard(topic_filter) is expected


# --- matching ------------------------------------------------------------------------------

# (filter, topic, matches?) -- the specification's examples (MQTT 5.0 section 4.7), then more.
MATCHING = [
    ("sport/tennis/player1/#", "sport/tennis/player1", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/tennis/player1/#", "sport/tennis/player2", False),
    ("sport/tennis/player1/#", "sport/tennis", False),
    ("sport/#", "sport", True),
    ("sport/tennis/#", "sport/tennisplayer1", False),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player2", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("#", "/finance", True),
    ("#", "a", True),
    ("#", "/", True),
    ("+", "a", True),
    ("+/tennis/#", "sport/tennis/player1", True),
    ("+/tennis/#", "sport/golf/player1", False),
    ("a/+/#", "a/b", True),
    ("a/+/#", "a/b/c/d", True),
    ("a/+/#", "a", False),
    ("a/#", "a/", True),
    ("a", "a/", False),
    ("a", "a", True),
    ("a/b", "a", False),
    ("a", "a/b", False),
    ("a//b", "a//b", True),
    ("a/+/b", "a//b", True),
    ("ACCOUNTS", "Accounts", False),
    ("é/+", "é/ü", True),
    # Topics beginning with '$' are not matched by a wildcard in the first level.
    ("#", "$SYS", False),
    ("#", "$SYS/monitor/Clients", False),
    ("+", "$SYS", False),
    ("+/monitor/Clients", "$SYS/monitor/Clients", False),
    ("+/#", "$SYS/x", False),
    ("$SYS/#", "$SYS", True),
    ("$SYS/#", "$SYS/monitor/Clients", True),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
    ("$SYS", "$SYS", True),
    ("+/$x", "a/$x", True),  # the rule is about the first level only
    ("a/#", "a/$x", True),
    # Shared subscriptions match by their inner filter.
    ("$share/group/sport/#", "sport/tennis", True),
    ("$share/group/sport/#", "sport", True),
    ("$share/group/+", "a", True),
    ("$share/group/a/b", "a/b", True),
    ("$share/group/a/b", "$share/group/a/b", False),
    ("$share/group/#", "$SYS/x", False),
    ("$share/group/$SYS/#", "$SYS/x", True),
    ("$share/group//", "/", True),
    ("$sharefoo/a", "$sharefoo/a", True),
]


@pytest.mark.parametrize(("topic_filter", "topic", "expected"), MATCHING)
def test_matches(topic_filter: str, topic: str, expected: bool) -> None:
    validate_topic_filter(topic_filter)
    validate_topic_name(topic)
    assert matches(topic_filter, topic) is expected


@pytest.mark.parametrize(("topic_filter", "topic", "expected"), MATCHING)
def test_trie_agrees_with_the_matching_table(topic_filter: str, topic: str, expected: bool) -> None:
    trie: FilterTrie[str] = FilterTrie()
    trie.add(topic_filter, "value")
    assert trie.match(topic) == (["value"] if expected else [])


# --- the trie ------------------------------------------------------------------------------


def test_empty_trie() -> None:
    trie: FilterTrie[int] = FilterTrie()
    assert len(trie) == 0
    assert trie.match("a") == []
    assert trie.match("$SYS/a") == []
    assert trie.filters() == []
    assert "a" not in trie


def test_several_values_per_filter_in_insertion_order() -> None:
    trie: FilterTrie[str] = FilterTrie()
    trie.add("a/+", "first")
    trie.add("a/+", "second")
    trie.add("a/+", "first")  # the same pair twice is stored twice
    assert len(trie) == 3
    assert trie.match("a/b") == ["first", "second", "first"]
    assert trie.filters() == ["a/+"]


def test_match_collects_every_matching_filter() -> None:
    trie: FilterTrie[str] = FilterTrie()
    for topic_filter in ["#", "a/#", "a/b/#", "a/+/c", "+/b/c", "a/b/c", "a/b", "x/#", "a/b/c/d"]:
        trie.add(topic_filter, topic_filter)
    assert Counter(trie.match("a/b/c")) == Counter(["#", "a/#", "a/b/#", "a/+/c", "+/b/c", "a/b/c"])
    assert Counter(trie.match("a/b")) == Counter(["#", "a/#", "a/b/#", "a/b"])
    assert trie.match("q") == ["#"]


def test_a_value_under_two_matching_filters_comes_twice() -> None:
    trie: FilterTrie[str] = FilterTrie()
    trie.add("a/+", "stream")
    trie.add("a/#", "stream")
    assert trie.match("a/b") == ["stream", "stream"]


def test_add_validates_the_filter() -> None:
    trie: FilterTrie[int] = FilterTrie()
    with pytest.raises(ValueError, match="'#' only as the whole last level"):
        trie.add("a/#/b", 1)
    with pytest.raises(TypeError, match="topic filter must be a str"):
        trie.add(7, 1)  # type: ignore[arg-type]
    assert len(trie) == 0
    assert trie.filters() == []


def test_shared_filters_are_stored_under_their_inner_filter() -> None:
    trie: FilterTrie[str] = FilterTrie()
    trie.add("$share/group/a/+", "shared")
    trie.add("a/+", "plain")
    assert trie.filters() == ["a/+"]
    assert "$share/group/a/+" in trie
    assert "$share/other/a/+" in trie
    assert "a/+" in trie
    assert trie.match("a/b") == ["shared", "plain"]
    assert trie.remove("$share/group/a/+", "shared") is True
    assert trie.match("a/b") == ["plain"]


def test_contains() -> None:
    trie: FilterTrie[int] = FilterTrie()
    trie.add("a/b/c", 1)
    assert "a/b/c" in trie
    assert "a/b" not in trie  # a node on the way, holding no value
    assert "a/b/c/d" not in trie
    assert "a/+/c" not in trie
    assert 1 not in trie
    assert None not in trie


def test_remove() -> None:
    trie: FilterTrie[int] = FilterTrie()
    trie.add("a/b", 1)
    trie.add("a/b", 2)
    trie.add("a/b/c", 3)
    assert trie.remove("a/b", 9) is False  # the filter is there, the value is not
    assert trie.remove("a/x", 1) is False  # no such filter
    assert trie.remove("a/b/c/d", 3) is False
    assert len(trie) == 3

    assert trie.remove("a/b", 1) is True
    assert len(trie) == 2
    assert "a/b" in trie
    assert trie.match("a/b") == [2]
    assert trie.remove("a/b", 1) is False  # removed once, gone

    assert trie.remove("a/b", 2) is True
    assert "a/b" not in trie
    assert trie.match("a/b/c") == [3]  # the node stays: it leads to a/b/c
    assert trie.filters() == ["a/b/c"]


def test_remove_prunes_empty_nodes() -> None:
    trie: FilterTrie[int] = FilterTrie()
    trie.add("a/b/c/d", 1)
    trie.add("a/x", 2)
    trie.remove("a/b/c/d", 1)
    assert list(trie._root.children) == ["a"]
    assert list(trie._root.children["a"].children) == ["x"]  # b, c and d were removed
    trie.remove("a/x", 2)
    assert trie._root.children == {}
    assert len(trie) == 0


def test_remove_removes_one_of_equal_pairs() -> None:
    trie: FilterTrie[str] = FilterTrie()
    trie.add("a", "v")
    trie.add("a", "v")
    assert trie.remove("a", "v") is True
    assert trie.match("a") == ["v"]
    assert len(trie) == 1


def test_filters_lists_each_filter_once_in_insertion_order() -> None:
    trie: FilterTrie[int] = FilterTrie()
    for value, topic_filter in enumerate(["b/#", "a", "a/+/c", "#", "a", "/", "a/+/c"]):
        trie.add(topic_filter, value)
    assert trie.filters() == ["b/#", "a", "a/+/c", "#", "/"]


def test_match_on_dollar_topics() -> None:
    trie: FilterTrie[str] = FilterTrie()
    for topic_filter in ["#", "+/#", "+/x", "$SYS/#", "$SYS/+", "$SYS"]:
        trie.add(topic_filter, topic_filter)
    assert Counter(trie.match("$SYS")) == Counter(["$SYS/#", "$SYS"])
    assert Counter(trie.match("$SYS/x")) == Counter(["$SYS/#", "$SYS/+"])
    assert trie.match("$other/x") == []
    assert Counter(trie.match("SYS/x")) == Counter(["#", "+/#", "+/x"])


# --- the trie against brute force ----------------------------------------------------------

# Few level names, so that generated filters and topics often overlap and match.
LEVEL_NAMES = st.sampled_from(["a", "b", "", "$x"])


@st.composite
def topic_filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(st.one_of(LEVEL_NAMES, st.just("+")), min_size=0, max_size=4))
    if draw(st.booleans()) or not "/".join(levels):  # an empty filter is invalid
        levels.append("#")
    topic_filter = "/".join(levels)
    if draw(st.integers(0, 5)) == 0:
        topic_filter = "$share/group/" + topic_filter
    return topic_filter


topic_names = st.lists(LEVEL_NAMES, min_size=1, max_size=5).map("/".join).filter(bool)


@given(filters=st.lists(topic_filters(), max_size=12), topics=st.lists(topic_names, max_size=8))
def test_trie_matches_exactly_what_brute_force_matches(
    filters: list[str], topics: list[str]
) -> None:
    trie: FilterTrie[int] = FilterTrie()
    for value, topic_filter in enumerate(filters):
        validate_topic_filter(topic_filter)
        trie.add(topic_filter, value)
    for topic in topics:
        validate_topic_name(topic)
        expected = [value for value, f in enumerate(filters) if matches(f, topic)]
        assert Counter(trie.match(topic)) == Counter(expected)


@given(
    operations=st.lists(
        st.tuples(st.booleans(), topic_filters(), st.integers(0, 2)), min_size=1, max_size=30
    ),
    topics=st.lists(topic_names, min_size=1, max_size=5),
)
def test_trie_add_and_remove_agree_with_a_list_of_pairs(
    operations: list[tuple[bool, str, int]], topics: list[str]
) -> None:
    trie: FilterTrie[int] = FilterTrie()
    pairs: list[tuple[str, int]] = []  # the model: (inner filter, value), with repeats
    for is_add, topic_filter, value in operations:
        pair = (parse_shared_subscription(topic_filter)[1], value)
        if is_add:
            trie.add(topic_filter, value)
            pairs.append(pair)
        else:
            assert trie.remove(topic_filter, value) is (pair in pairs)
            if pair in pairs:
                pairs.remove(pair)
        assert len(trie) == len(pairs)

    stored = {f for f, _ in pairs}
    listed = trie.filters()
    assert len(listed) == len(set(listed))
    assert set(listed) == stored
    for _, topic_filter, _ in operations:
        assert (topic_filter in trie) is (parse_shared_subscription(topic_filter)[1] in stored)
    for topic in topics:
        expected = [value for f, value in pairs if matches(f, topic)]
        assert Counter(trie.match(topic)) == Counter(expected)
    if not pairs:
        assert trie._root.children == {}
