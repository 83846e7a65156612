"""asyncio-mqtt 0.x's module path ``asyncio_mqtt.error``, for programs that import from it.

asyncio-mqtt (aiomqtt's name before 1.0) defined its exceptions here; asyncmqtt defines them in
``asyncmqtt.errors``, and this module re-exports the ones asyncio-mqtt 0.16 had. They are the
same classes, not copies.
"""

from __future__ import annotations

from .errors import MqttCodeError, MqttConnectError, MqttError, MqttReentrantError

__all__ = ("MqttCodeError", "MqttConnectError", "MqttError", "MqttReentrantError")
