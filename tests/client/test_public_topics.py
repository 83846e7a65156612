"""The public Topic and Wildcard types: aiomqtt 2.x behaviour, with the specification's rules."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable

import pytest

from asyncmqtt.topics import Topic, TopicLike, Wildcard, WildcardLike


def test_topic_holds_its_value() -> None:
    topic = Topic("sport/tennis/player1")
    assert topic.value == "sport/tennis/player1"
    assert str(topic) == "sport/tennis/player1"
    assert repr(topic) == "Topic(value='sport/tennis/player1')"
    assert Topic(value="a").value == "a"


def test_wildcard_holds_its_value() -> None:
    wildcard = Wildcard("sport/+/player1")
    assert wildcard.value == "sport/+/player1"
    assert str(wildcard) == "sport/+/player1"
    assert repr(wildcard) == "Wildcard(value='sport/+/player1')"


def test_topic_is_a_wildcard() -> None:
    assert issubclass(Topic, Wildcard)
    assert isinstance(Topic("a"), Wildcard)
    assert not isinstance(Wildcard("a"), Topic)


def test_type_aliases_cover_str_and_the_class() -> None:
    assert isinstance("a", TopicLike)
    assert isinstance(Topic("a"), TopicLike)
    assert not isinstance(Wildcard("a"), TopicLike)
    assert isinstance("a/#", WildcardLike)
    assert isinstance(Wildcard("a/#"), WildcardLike)
    assert isinstance(Topic("a"), WildcardLike)


def test_values_are_frozen() -> None:
    topic = Topic("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        topic.value = "b"  # type: ignore[misc]
    wildcard = Wildcard("a/#")
    with pytest.raises(dataclasses.FrozenInstanceError):
        wildcard.value = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "must not be empty"),
        ("a/+", "must not contain the wildcards '+' or '#'"),
        ("a/#", "must not contain the wildcards '+' or '#'"),
        ("a\x00", "null character U+0000"),
        ("\ud800", "lone surrogate"),
        ("é" * 32768, "at most 65535 bytes encoded as UTF-8"),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_invalid_topic_raises_value_error(value: str, rule: str) -> None:
    with pytest.raises(ValueError) as caught:
        Topic(value)
    message = str(caught.value)
    # aiomqtt's opening, then our detail: the rule and the value.
    assert message.startswith("Invalid topic: topic name ")
    assert rule in message
    assert repr(value)[:20] in message
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "must not be empty"),
        ("a/#/b", "'#' only as the whole last level"),
        ("a/b#", "'#' only as the whole last level"),
        ("a+/b", "'+' only as a whole level"),
        ("$share/group", "form '$share/{ShareName}/{filter}'"),
        ("$share//a", "non-empty share name"),
        ("a\x00/#", "null character U+0000"),
    ],
)
def test_invalid_wildcard_raises_value_error(value: str, rule: str) -> None:
    with pytest.raises(ValueError) as caught:
        Wildcard(value)
    message = str(caught.value)
    assert message.startswith("Invalid wildcard: ")
    assert rule in message
    assert repr(value) in message


@pytest.mark.parametrize("cls", [Topic, Wildcard])
@pytest.mark.parametrize("value", [None, 1, b"a/b"])
def test_non_str_raises_type_error(cls: type[Wildcard], value: object) -> None:
    with pytest.raises(TypeError) as caught:
        cls(value)  # type: ignore[arg-type]
    # aiomqtt: "Topic must be of type str" / "Wildcard must be of type str".
    expected = f"{cls.__name__} must be of type str, not {type(value).__name__}: {value!r}"
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("make", "opening"),
    [
        (lambda: Topic("a/+"), "Invalid topic: "),
        (lambda: Topic(""), "Invalid topic: "),
        (lambda: Wildcard("a/#/b"), "Invalid wildcard: "),
        (lambda: Wildcard(""), "Invalid wildcard: "),
        (lambda: Topic("a").matches("a/b#"), "Invalid wildcard: "),
    ],
)
def test_error_texts_open_as_aiomqtt_s(make: Callable[[], object], opening: str) -> None:
    # Code that checks aiomqtt's wording (or only the type) keeps working.
    with pytest.raises(ValueError) as caught:
        make()
    assert str(caught.value).startswith(opening)


@pytest.mark.parametrize(
    "value", ["#", "+", "+/+", "a/+/c/#", "$SYS/#", "$share/group/a/+", "a", "/", "é/😀"]
)
def test_valid_wildcards(value: str) -> None:
    assert Wildcard(value).value == value


@pytest.mark.parametrize(
    ("topic", "wildcard", "expected"),
    [
        ("sport/tennis/player1", "sport/tennis/player1", True),
        ("sport/tennis/player1", "sport/tennis/+", True),
        ("sport/tennis/player1", "sport/#", True),
        ("sport", "sport/#", True),
        ("sport", "sport/+", False),
        ("sport/tennis", "sport/tennis/player1", False),
        ("/finance", "+/+", True),
        ("/finance", "+", False),
        ("$SYS/uptime", "#", False),
        ("$SYS/uptime", "+/uptime", False),
        ("$SYS/uptime", "$SYS/#", True),
        ("a/b", "$share/group/a/+", True),
        ("a/b", "$share/group/#", True),
        ("a/b", "$share/group/b/#", False),
    ],
)
def test_matches(topic: str, wildcard: str, expected: bool) -> None:
    assert Topic(topic).matches(wildcard) is expected
    assert Topic(topic).matches(Wildcard(wildcard)) is expected


def test_matches_accepts_a_topic() -> None:
    assert Topic("a/b").matches(Topic("a/b")) is True
    assert Topic("a/b").matches(Topic("a/c")) is False


def test_matches_validates_a_str_filter() -> None:
    with pytest.raises(ValueError, match=r"^Invalid wildcard: .*'#' only as the whole last level"):
        Topic("a/b").matches("a/#/b")
    with pytest.raises(TypeError, match=r"^Wildcard must be of type str, not int"):
        Topic("a/b").matches(5)  # type: ignore[arg-type]


def test_equality_is_dataclass_equality_as_in_aiomqtt() -> None:
    assert Topic("a/b") == Topic("a/b")
    assert Topic("a/b") != Topic("a/c")
    assert Wildcard("a/+") == Wildcard("a/+")
    # Different classes and plain strings are never equal, whatever the value.
    assert Topic("a/b") != Wildcard("a/b")
    assert Wildcard("a/b") != Topic("a/b")
    assert Topic("a/b") != "a/b"  # type: ignore[comparison-overlap]
    assert Wildcard("a/+") != "a/+"  # type: ignore[comparison-overlap]


def test_hashable_and_usable_as_keys() -> None:
    assert hash(Topic("a/b")) == hash(Topic("a/b"))
    assert hash(Wildcard("a/+")) == hash(Wildcard("a/+"))
    assert len({Topic("a/b"), Topic("a/b"), Topic("a/c")}) == 2
    mixed = {Topic("a"): "topic", Wildcard("a"): "wildcard"}
    assert mixed[Topic("a")] == "topic"
    assert mixed[Wildcard("a")] == "wildcard"


@pytest.mark.parametrize("value", [Topic("a/b"), Wildcard("a/+")])
def test_pickle_and_copy_round_trip(value: Wildcard) -> None:
    assert pickle.loads(pickle.dumps(value)) == value
    assert copy.deepcopy(value) == value
    assert type(copy.copy(value)) is type(value)


def test_replace_validates_again() -> None:
    with pytest.raises(ValueError, match=r"^Invalid topic: .*must not contain the wildcards"):
        dataclasses.replace(Topic("a"), value="a/+")
