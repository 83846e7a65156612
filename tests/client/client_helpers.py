"""Helpers the client tests import."""

from __future__ import annotations

from typing import Any

from broker import Mosquitto

from asyncmqtt import Client


def client_for(broker: Mosquitto, **options: Any) -> Client:
    """A Client for ``broker`` (MQTT 5 unless ``protocol`` says otherwise)."""
    return Client(broker.host, broker.port, **options)
