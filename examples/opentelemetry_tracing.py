"""OpenTelemetry: one trace from the publisher to the subscriber, across the broker, and the
clients' metrics. Needs ``pip install "asyncmqtt[otel]" opentelemetry-sdk``."""

import asyncio
import os

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import asyncmqtt
import asyncmqtt.otel

HOST = os.environ.get("MQTT_HOST", "localhost")
PORT = int(os.environ.get("MQTT_PORT", "1883"))


def span_line(span):
    """One line per span (the console exporter writes JSON by default)."""
    parent = f"{span.parent.span_id:016x}" if span.parent else "-"
    ids = f"trace {span.context.trace_id:032x} span {span.context.span_id:016x}"
    return f"{span.name} ({span.kind.name}) {ids} parent {parent}\n"


def metric_lines(data):
    """The metrics with a value, one line each (the default is JSON)."""
    lines = []
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "value", None)
                    client = point.attributes.get("messaging.client.id", "")
                    if value:
                        lines.append(f"{metric.name} {client} {value}")
    return "".join(line + "\n" for line in lines)


def set_up_opentelemetry():
    # Done once by the application, as for any instrumentation. In production the exporters
    # send to a collector (OTLPSpanExporter, OTLPMetricExporter); here, to the console.
    tracer_provider = TracerProvider()
    exporter = ConsoleSpanExporter(formatter=span_line)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(formatter=metric_lines))
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))


async def main():
    set_up_opentelemetry()
    tracer = trace.get_tracer("example")
    sensor = asyncmqtt.Client(HOST, port=PORT, identifier="sensor")
    archiver = asyncmqtt.Client(HOST, port=PORT, identifier="archiver")
    # Off unless asked for: instrument() each client (the global providers by default).
    asyncmqtt.otel.instrument(sensor)
    asyncmqtt.otel.instrument(archiver)
    async with sensor, archiver:
        await archiver.subscribe("measurements/#", qos=1)
        # The publisher's work: its span is the parent of the publish span, and the trace
        # context travels in the message's MQTT 5 user properties.
        with tracer.start_as_current_span("read sensor"):
            await sensor.publish("measurements/humidity", 0.38, qos=1)
        message = await anext(archiver.messages)
        # The subscriber's work on the message, in a span of the same trace (and one of its
        # own inside, for the example).
        with asyncmqtt.otel.processing(message), tracer.start_as_current_span("store reading"):
            print(f"stored {message.topic}: {message.payload.decode()}")
    metrics.get_meter_provider().shutdown()  # (the last export: prints the metrics)


asyncio.run(main())
