"""asyncmqtt: the idiomatic asyncio MQTT client."""
