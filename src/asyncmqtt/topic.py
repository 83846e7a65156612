"""aiomqtt 2.x's module path ``aiomqtt.topic``, for programs that import from it.

``Topic``, ``Wildcard`` and their ``...Like`` aliases are asyncmqtt's (``asyncmqtt.topics``).
``MAX_TOPIC_LENGTH`` has aiomqtt's value, 65535; asyncmqtt counts it in UTF-8 bytes, as the
specification does, where aiomqtt counted characters.
"""

from __future__ import annotations

from typing import Final

from .protocol.topics import MAX_TOPIC_BYTES
from .topics import Topic, TopicLike, Wildcard, WildcardLike

__all__ = ("MAX_TOPIC_LENGTH", "Topic", "TopicLike", "Wildcard", "WildcardLike")

MAX_TOPIC_LENGTH: Final = MAX_TOPIC_BYTES
"""The longest topic name or filter: 65535, in bytes of UTF-8 (aiomqtt counted characters)."""
