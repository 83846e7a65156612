"""Topic names and topic filters: validation, matching, and a filter trie for routing.

A *topic name* is what a message is published to; a *topic filter* is what a client subscribes
to. Both are UTF-8 strings of levels separated by ``/``. A filter may hold two wildcards: ``+``
stands for exactly one level and ``#`` for the level it is on and every level below it, so
``a/#`` matches ``a`` as well as ``a/b/c``. Either must be a whole level, and ``#`` only the last.
Two more rules come from the specification (MQTT 5.0 section 4.7 and 4.8.2):

* A topic beginning with ``$`` (such as ``$SYS/...``) is not matched by a filter whose first
  level is a wildcard; a filter has to name the ``$`` level to reach it.
* ``$share/{ShareName}/{filter}`` is a shared subscription. The broker delivers each message to
  one member of the group; on the client side it matches exactly as its inner ``filter`` does.

The validators raise ``TypeError``/``ValueError`` naming the value and the rule, which is what a
local caller should see. When the value came from the peer, the decoder turns that ``ValueError``
into a ``ProtocolError`` with the reason code for an invalid topic name or filter.

``FilterTrie`` routes received messages. It stores filters level by level in nested dicts, so
finding the filters that match a topic walks the topic's levels once; at each level only the
exact child, the ``+`` child and the ``#`` child can match, so the work depends on the number of
levels and wildcards involved, never on how many filters are stored.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = (
    "MAX_TOPIC_BYTES",
    "FilterTrie",
    "has_wildcard",
    "matches",
    "parse_shared_subscription",
    "validate_topic_filter",
    "validate_topic_name",
)

T = TypeVar("T")

MAX_TOPIC_BYTES = 65535
"""The longest topic name or filter, in bytes of UTF-8: on the wire they carry a two-byte
length prefix."""

_SHARE_PREFIX = "$share/"
_SHOWN_CHARS = 60  # how much of a long value an error message quotes


def _show(value: str) -> str:
    """The value as an error message quotes it: its repr, shortened if it is very long."""
    if len(value) <= _SHOWN_CHARS:
        return repr(value)
    return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} characters)"


def _check_common(value: object, kind: str) -> str:
    """Apply the rules shared by topic names and topic filters; return the value as a str.

    ``kind`` ("topic name" or "topic filter") is used in the messages.
    """
    if not isinstance(value, str):
        raise TypeError(f"{kind} must be a str, not {type(value).__name__}: {value!r}")
    if not value:
        raise ValueError(f"{kind} must not be empty: ''")
    if "\x00" in value:
        raise ValueError(f"{kind} must not contain the null character U+0000: {_show(value)}")
    if value.isascii():
        size = len(value)  # the common case: one byte a character, no encoding needed
    else:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(
                f"{kind} must be valid UTF-8, but contains a lone surrogate: {_show(value)}"
            ) from None
    if size > MAX_TOPIC_BYTES:
        raise ValueError(
            f"{kind} must be at most {MAX_TOPIC_BYTES} bytes encoded as UTF-8, "
            f"not {size}: {_show(value)}"
        )
    return value


def validate_topic_name(topic: str) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``topic`` is a valid topic name to publish to.

    A valid topic name is a non-empty ``str`` of at most ``MAX_TOPIC_BYTES`` bytes of UTF-8
    (no lone surrogates), without the null character or the wildcards ``+`` and ``#``.
    ``TypeError`` is for a value that is not a ``str``; the message names the value and the
    rule it breaks.
    """
    _check_common(topic, "topic name")
    if "+" in topic or "#" in topic:
        raise ValueError(
            f"topic name must not contain the wildcards '+' or '#' (they belong in "
            f"subscription filters only): {_show(topic)}"
        )


def validate_topic_filter(topic_filter: str) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``topic_filter`` is a valid subscription filter.

    The rules of topic names apply (but for the wildcards), plus: ``+`` and ``#`` each fill a
    whole level, ``#`` only the last; a shared subscription has the form
    ``$share/{ShareName}/{filter}`` with a non-empty share name free of wildcards and a valid
    inner filter. ``TypeError`` is for a value that is not a ``str``.
    """
    _check_common(topic_filter, "topic filter")
    inner = topic_filter
    if topic_filter == "$share" or topic_filter.startswith(_SHARE_PREFIX):
        inner = _check_shared(topic_filter)
    _check_wildcards(inner, topic_filter)


def _check_shared(topic_filter: str) -> str:
    """Check the ``$share/{ShareName}/{filter}`` frame; return the inner filter."""
    parts = topic_filter.split("/", 2)
    if len(parts) < 3:
        raise ValueError(
            "shared subscription must have the form '$share/{ShareName}/{filter}', "
            f"with a share name and a filter: {_show(topic_filter)}"
        )
    _, share_name, inner = parts
    if not share_name:
        raise ValueError(
            f"shared subscription must have a non-empty share name: {_show(topic_filter)}"
        )
    if "+" in share_name or "#" in share_name:
        raise ValueError(
            "shared subscription's share name must not contain '+' or '#': "
            f"{share_name!r} in {_show(topic_filter)}"
        )
    if not inner:
        raise ValueError(
            f"shared subscription must have a non-empty filter after the share name: "
            f"{_show(topic_filter)}"
        )
    return inner


def _check_wildcards(levels_text: str, topic_filter: str) -> None:
    """Check that '+' and '#' in ``levels_text`` each fill a whole level, '#' only the last."""
    if "+" not in levels_text and "#" not in levels_text:
        return
    levels = levels_text.split("/")
    last = len(levels) - 1
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != last):
            raise ValueError(
                "topic filter may use '#' only as the whole last level (as in 'a/#'): "
                f"{_show(topic_filter)}"
            )
        if "+" in level and level != "+":
            raise ValueError(
                "topic filter may use '+' only as a whole level (as in 'a/+/c'): "
                f"{_show(topic_filter)}"
            )


def parse_shared_subscription(topic_filter: str) -> tuple[str | None, str]:
    """Split a filter into (share name, inner filter); ``(None, topic_filter)`` if not shared.

    The filter is assumed valid (see ``validate_topic_filter``); this does not check it.
    """
    if topic_filter.startswith(_SHARE_PREFIX):
        parts = topic_filter.split("/", 2)
        if len(parts) == 3:
            return parts[1], parts[2]
    return None, topic_filter


def has_wildcard(topic_filter: str) -> bool:
    """Whether ``topic_filter`` (a topic filter, not checked) holds ``+`` or ``#``, that is,
    can match more than one topic name."""
    return "+" in topic_filter or "#" in topic_filter


def matches(topic_filter: str, topic: str) -> bool:
    """Whether a message published to ``topic`` is matched by the subscription ``topic_filter``.

    Both are assumed valid; nothing is checked here, so that routing pays nothing for it.
    """
    if topic_filter.startswith(_SHARE_PREFIX):
        topic_filter = parse_shared_subscription(topic_filter)[1]
    if "+" not in topic_filter and "#" not in topic_filter:
        return topic_filter == topic
    if topic.startswith("$") and topic_filter[0] in "+#":
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, wanted in enumerate(filter_levels):
        if wanted == "#":
            return True  # matches this level (even if absent: "a/#" matches "a") and below
        if index == len(topic_levels):
            return False
        if wanted not in ("+", topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


class _Node(Generic[T]):
    """One level of the trie: children by level text, and the values of the filter ending here."""

    __slots__ = ("children", "values")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.values: list[T] = []


class FilterTrie(Generic[T]):
    """A map from topic filters to values, answering "which values match this topic?".

    Each filter may hold several values, and the same value several times (a multiset of
    ``(filter, value)`` pairs). A shared filter ``$share/{group}/{filter}`` is stored under its
    inner ``filter``: it matches the same topics, and ``filters()`` lists the inner filter.
    It starts empty; the values are of any type (``FilterTrie[T]``).
    """

    __slots__ = ("_count", "_root")

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._count = 0

    def add(self, topic_filter: str, value: T) -> None:
        """Store ``value`` under ``topic_filter`` (validated; ``ValueError`` if invalid)."""
        validate_topic_filter(topic_filter)
        node = self._root
        for level in _levels(topic_filter):
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        node.values.append(value)
        self._count += 1

    def remove(self, topic_filter: str, value: T) -> bool:
        """Remove one ``(topic_filter, value)`` pair; ``False`` if there was none.

        Nodes left with neither values nor children are removed, so the trie does not keep
        growing as subscriptions come and go.
        """
        path: list[tuple[_Node[T], str]] = []  # (parent, level) for each step down
        node = self._root
        for level in _levels(topic_filter):
            child = node.children.get(level)
            if child is None:
                return False
            path.append((node, level))
            node = child
        if value not in node.values:
            return False
        node.values.remove(value)
        self._count -= 1
        for parent, level in reversed(path):
            if node.values or node.children:
                break
            del parent.children[level]
            node = parent
        return True

    def match(self, topic: str) -> list[T]:
        """The values of every stored filter that matches the topic name ``topic``.

        Values come out grouped by filter, each filter's in the order they were added; a value
        stored under two matching filters appears twice. ``topic`` is assumed valid.
        """
        found: list[T] = []
        levels = iter(topic.split("/"))
        if topic.startswith("$"):
            # Wildcards at the first level never match a '$' topic: only the exact child may.
            first = self._root.children.get(next(levels))
            if first is None:
                return found
            nodes = [first]
        else:
            nodes = [self._root]
        for level in levels:
            next_nodes: list[_Node[T]] = []
            for node in nodes:
                children = node.children
                if not children:
                    continue
                rest = children.get("#")
                if rest is not None:
                    found.extend(rest.values)
                exact = children.get(level)
                if exact is not None:
                    next_nodes.append(exact)
                one = children.get("+")
                if one is not None:
                    next_nodes.append(one)
            if not next_nodes:
                return found
            nodes = next_nodes
        for node in nodes:
            found.extend(node.values)
            # "a/#" also matches "a" itself, the parent level.
            rest = node.children.get("#")
            if rest is not None:
                found.extend(rest.values)
        return found

    def __len__(self) -> int:
        """The number of ``(filter, value)`` pairs stored."""
        return self._count

    def __contains__(self, topic_filter: object) -> bool:
        """Whether at least one value is stored under ``topic_filter``."""
        if not isinstance(topic_filter, str):
            return False
        node = self._root
        for level in _levels(topic_filter):
            child = node.children.get(level)
            if child is None:
                return False
            node = child
        return bool(node.values)

    def filters(self) -> list[str]:
        """Every filter holding at least one value, each once, in a stable order."""
        found: list[str] = []
        stack: list[tuple[_Node[T], tuple[str, ...]]] = [(self._root, ())]
        while stack:
            node, path = stack.pop()
            if node.values:
                found.append("/".join(path))
            # Reversed, so that children come off the stack in the order they were added.
            stack.extend(
                (child, (*path, level)) for level, child in reversed(node.children.items())
            )
        return found


def _levels(topic_filter: str) -> list[str]:
    """The levels a filter is stored under in the trie (a shared filter's inner ones)."""
    return parse_shared_subscription(topic_filter)[1].split("/")
