"""aiomqtt 2.x's module path ``aiomqtt.exceptions``, for programs that import from it.

aiomqtt 2 defined its exceptions here; asyncmqtt defines them in ``asyncmqtt.errors`` (where
the rest of the tree is drawn), and this module re-exports the ones aiomqtt had, so that
``from aiomqtt.exceptions import MqttError`` keeps working as
``from asyncmqtt.exceptions import MqttError``. They are the same classes, not copies:
``except`` clauses written against either path catch the same errors.
"""

from __future__ import annotations

from .errors import MqttCodeError, MqttConnectError, MqttError, MqttReentrantError

__all__ = ("MqttCodeError", "MqttConnectError", "MqttError", "MqttReentrantError")
