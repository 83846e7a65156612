"""One client for a whole Starlette application, set up in its lifespan."""

import contextlib
import os

import starlette.applications
import starlette.responses
import starlette.routing

import asyncmqtt as aiomqtt

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))

client = None


@contextlib.asynccontextmanager
async def lifespan(app):
    global client
    async with aiomqtt.Client(HOST, port=PORT, reconnect=True) as c:
        client = c
        yield


async def publish(request):
    value = request.path_params["value"]
    await client.publish("measurements/humidity", payload=value, qos=1)
    return starlette.responses.JSONResponse({"published": value})


app = starlette.applications.Starlette(
    routes=[starlette.routing.Route("/humidity/{value}", publish, methods=["POST"])],
    lifespan=lifespan,
)
