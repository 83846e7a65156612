"""One client for a whole FastAPI application, set up in its lifespan."""

import contextlib
import os

import fastapi

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


@contextlib.asynccontextmanager
async def lifespan(app):
    async with aiomqtt.Client(HOST, port=PORT, reconnect=True) as client:
        # The lifespan state is handed to every request as request.state.
        yield {"mqtt": client}


app = fastapi.FastAPI(lifespan=lifespan)


@app.post("/humidity/{value}")
async def publish(value: float, request: fastapi.Request):
    await request.state.mqtt.publish("measurements/humidity", payload=value, qos=1)
    return {"published": value}
