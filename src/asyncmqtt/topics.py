"""The public ``Topic`` and ``Wildcard`` types, compatible with aiomqtt 2.x.

As in aiomqtt, both are frozen dataclasses with a single field ``value``, ``str()`` gives the
value back, and ``Topic`` is a subclass of ``Wildcard`` (a topic name is also a filter that
matches only itself). Equality is dataclass equality, also as in aiomqtt: values of the same
class compare by ``value``, and nothing else is equal to them, so ``Topic("a") != "a"`` and
``Topic("a") != Wildcard("a")``. Both are hashable.

Unlike aiomqtt, validation and matching follow the specification to the letter (the functions
in ``asyncmqtt.protocol.topics``): lengths are counted in UTF-8 bytes, the null character is
refused, ``$SYS/...`` topics are not matched by filters starting with a wildcard, and shared
subscriptions ``$share/{group}/{filter}`` are checked and match by their inner filter.

Errors are aiomqtt's types with aiomqtt's openings, followed by the rule that was broken:
``ValueError("Invalid topic: ...")`` / ``ValueError("Invalid wildcard: ...")`` for a value
that breaks a rule, ``TypeError("Topic must be of type str, ...")`` /
``TypeError("Wildcard must be of type str, ...")`` for a value that is not a ``str``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from .protocol.topics import matches, validate_topic_filter, validate_topic_name

__all__ = ("Topic", "TopicLike", "TopicString", "Wildcard", "WildcardLike")


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A topic filter: what a client subscribes to, optionally with ``+`` and ``#`` wildcards.

    Raises ``TypeError`` if ``value`` is not a ``str`` and ``ValueError`` if it is not a valid
    topic filter, with a message naming the value and the rule it breaks. ``+`` stands for
    exactly one level and ``#``, only as the whole last level, for that level and every level
    below it (``a/#`` matches ``a`` and ``a/b/c``); ``$share/{group}/{filter}`` is a shared
    subscription.
    """

    value: str
    """The filter's text (``str()`` gives it too); for a ``Topic``, the topic name."""

    def __str__(self) -> str:
        return self.value

    def __post_init__(self) -> None:
        _validate(validate_topic_filter, self.value, "wildcard")


@dataclass(frozen=True, slots=True)
class Topic(Wildcard):
    """A topic name: what a message is published to. It holds no wildcards.

    Raises ``TypeError`` if ``value`` is not a ``str`` and ``ValueError`` if it is not a valid
    topic name, with a message naming the value and the rule it breaks.
    """

    def __post_init__(self) -> None:
        _validate(validate_topic_name, self.value, "topic")

    def matches(self, wildcard: WildcardLike) -> bool:
        """Whether a subscription to ``wildcard`` receives messages published to this topic.

        ``wildcard`` is a topic filter: a ``Wildcard`` (or ``Topic``), or a ``str``, which is
        validated first, as ``Wildcard(wildcard)`` would be (``TypeError`` / ``ValueError``
        if it is not a valid filter). A ``$share/{group}/{filter}`` matches as its ``filter``.
        """
        if isinstance(wildcard, Wildcard):
            topic_filter = wildcard.value
        else:
            _validate(validate_topic_filter, wildcard, "wildcard")
            topic_filter = wildcard
        return matches(topic_filter, self.value)


class TopicString(str):
    """The topic of a message in the asyncio-mqtt 0.x streams, where it was a ``str``.

    It is the ``str`` it was there (``==``, ``split``, slicing, formatting work as before),
    and it also offers what aiomqtt 2's ``Topic`` does: ``value`` and ``matches()``.
    The client makes them (the streams of ``filtered_messages``, ``unfiltered_messages`` and
    ``messages()``); ``TopicString(text)`` takes the topic name, unchecked.
    """

    __slots__ = ()

    @property
    def value(self) -> str:
        """The topic name as a plain ``str``."""
        return str.__str__(self)

    def matches(self, wildcard: WildcardLike) -> bool:
        """Whether a subscription to ``wildcard`` receives messages published to this topic.

        As ``Topic.matches``: a ``str`` is validated as a topic filter first (``TypeError`` /
        ``ValueError`` if it is not one).
        """
        return Topic(self.value).matches(wildcard)


def _validate(check: Callable[[str], None], value: str, kind: str) -> None:
    """Run ``check`` on ``value``; raise its error again with aiomqtt's opening for ``kind``.

    The core's error says nothing the new one does not, so it is not chained.
    """
    try:
        check(value)
    except ValueError as exc:
        raise ValueError(f"Invalid {kind}: {exc}") from None
    except TypeError:
        raise TypeError(
            f"{kind.capitalize()} must be of type str, not {type(value).__name__}: {value!r}"
        ) from None


TopicLike: TypeAlias = str | Topic
"""A topic name given as a ``str`` or a ``Topic``: what ``publish`` and ``Will`` accept."""
WildcardLike: TypeAlias = str | Wildcard
"""A topic filter given as a ``str`` or a ``Wildcard`` (a ``Topic`` is one too): what
``subscribe``, ``unsubscribe``, ``filtered_messages`` and ``Topic.matches`` accept."""
