"""aiomqtt 2.x's module path ``aiomqtt.message``, for programs that import from it.

``Message`` is asyncmqtt's (``asyncmqtt.messages``). ``MessagesIterator`` was the type of
aiomqtt 2's ``client.messages``; in asyncmqtt that object is a ``MessageStream``, so the name is
an alias of that class (``isinstance(client.messages, MessagesIterator)`` holds, and it serves
as a type annotation).
"""

from __future__ import annotations

from typing import TypeAlias

from .messages import Message, MessageStream

__all__ = ("Message", "MessagesIterator")

MessagesIterator: TypeAlias = MessageStream
"""aiomqtt 2's name for the type of ``client.messages``: here the same class as
``MessageStream`` (an alias, not a subclass)."""
