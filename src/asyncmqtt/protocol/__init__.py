"""The sans-I/O MQTT protocol engine: no asyncio, socket, ssl, time or random."""
