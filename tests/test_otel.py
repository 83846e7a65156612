"""asyncmqtt.otel: spans and metrics of instrumented clients, through a real mosquitto, read with
the OpenTelemetry SDK's in-memory span exporter and metric reader; and the extra staying out of
programs that do not use it."""

from __future__ import annotations

import asyncio
import gc
import itertools
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from broker import Mosquitto
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from relay import Relay

import asyncmqtt
import asyncmqtt.otel
from asyncmqtt import Client, Message, MqttCodeError, MqttTimeoutError, Properties, ProtocolVersion
from asyncmqtt.otel import Instrumentation, instrument, processing, uninstrument

if TYPE_CHECKING:
    from conftest import MosquittoFactory

GUARD_SECONDS = 10.0
_numbers = itertools.count()


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> str:
    """A topic no other test uses (the broker is shared)."""
    return f"test/otel/{request.node.name.replace('[', '_').replace(']', '')}/{next(_numbers)}"


class Telemetry:
    """The SDK's in-memory span exporter and metric reader, behind providers of their own."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.providers: dict[str, Any] = {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
        }

    def finished(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.name == name]

    def tracer(self) -> trace.Tracer:
        return self.tracer_provider.get_tracer("test")

    def data_points(self) -> dict[str, list[Any]]:
        """Every metric of the asyncmqtt scope: name -> its data points."""
        data = self.reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        if data is None:  # (nothing to report)
            return points
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                if scope.scope.name == "asyncmqtt":
                    for metric in scope.metrics:
                        points[metric.name] = list(metric.data.data_points)
        return points


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


def client_for(broker: Mosquitto, **options: Any) -> Client:
    return Client(broker.host, broker.port, **options)


@pytest.fixture
async def subscriber(mosquitto: Mosquitto, topic: str) -> AsyncIterator[Client]:
    """An uninstrumented client subscribed to ``topic``, to see what was published."""
    async with client_for(mosquitto) as client:
        await client.subscribe(topic, qos=2)
        yield client


async def next_message(client: Client) -> Message:
    async with asyncio.timeout(GUARD_SECONDS):
        return await anext(client.messages)


def traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def user_property(message: Message, name: str) -> list[str]:
    return [value for key, value in message.properties.user_properties if key == name]


# ---------------------------------------------------------------------------- the extra


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_import_asyncmqtt_does_not_import_opentelemetry() -> None:
    done = run_python(
        "import sys, asyncmqtt\n"
        "loaded = [name for name in sys.modules if name.split('.')[0] == 'opentelemetry']\n"
        "assert not loaded, loaded\n"
        "assert 'asyncmqtt.otel' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr


def test_import_otel_without_the_extra_says_how_to_install_it() -> None:
    # (opentelemetry made unimportable, as in an environment without the extra)
    done = run_python(
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "import asyncmqtt\n"
        "try:\n"
        "    import asyncmqtt.otel\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "asyncmqtt[otel]"' in done.stdout


def test_a_client_has_no_telemetry_unless_instrumented() -> None:
    assert Client("localhost")._telemetry is None


# ---------------------------------------------------------------------------- publish spans


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_a_publish_has_a_producer_span_and_carries_its_trace_context(
    mosquitto: Mosquitto,
    subscriber: Client,
    topic: str,
    otel: Telemetry,
    qos: int,
) -> None:
    client = client_for(mosquitto, identifier=f"otel-publisher-{qos}")
    instrument(client, **otel.providers)
    async with client:
        await client.publish(topic, b"0.38", qos=qos)
        message = await next_message(subscriber)
    [span] = otel.finished(f"publish {topic}")
    assert span.kind is SpanKind.PRODUCER
    assert span.status.status_code is StatusCode.UNSET
    assert span.end_time is not None
    assert dict(span.attributes or {}) == {
        "messaging.system": "mqtt",
        "messaging.destination.name": topic,
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
        "messaging.client.id": f"otel-publisher-{qos}",
        "server.address": mosquitto.host,
        "server.port": mosquitto.port,
        "network.protocol.name": "mqtt",
        "network.protocol.version": "5.0",
        "asyncmqtt.qos": qos,
        "messaging.message.body.size": 4,
    }
    # The W3C trace context, in the PUBLISH's user properties: the span's own.
    assert user_property(message, "traceparent") == [traceparent(span)]
    assert message.payload == b"0.38"


async def test_a_qos_enum_is_recorded_as_its_number(
    mosquitto: Mosquitto, subscriber: Client, topic: str, otel: Telemetry
) -> None:
    client = client_for(mosquitto)
    instrument(client, **otel.providers)
    async with client:
        await client.publish(topic, b"x", qos=asyncmqtt.QoS.AT_LEAST_ONCE)
        await next_message(subscriber)
    [span] = otel.finished(f"publish {topic}")
    assert type((span.attributes or {})["asyncmqtt.qos"]) is int


async def test_the_trace_context_is_added_to_the_applications_user_properties(
    mosquitto: Mosquitto,
    subscriber: Client,
    topic: str,
    otel: Telemetry,
) -> None:
    client = client_for(mosquitto)
    instrument(client, **otel.providers)
    properties = Properties(content_type="text/plain", user_properties=(("unit", "%"),))
    async with client:
        await client.publish(topic, b"38", qos=1, properties=properties)
        message = await next_message(subscriber)
    [span] = otel.finished(f"publish {topic}")
    assert message.properties.content_type == "text/plain"
    assert message.properties.user_properties == (
        ("unit", "%"),
        ("traceparent", traceparent(span)),
    )


async def test_a_creation_context_the_application_gave_is_kept_and_linked(
    mosquitto: Mosquitto,
    subscriber: Client,
    topic: str,
    otel: Telemetry,
) -> None:
    own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    client = client_for(mosquitto)
    instrument(client, **otel.providers)
    async with client:
        properties = Properties(user_properties=(("traceparent", own),))
        await client.publish(topic, b"x", qos=1, properties=properties)
        message = await next_message(subscriber)
    assert user_property(message, "traceparent") == [own]
    [span] = otel.finished(f"publish {topic}")
    [link] = span.links
    assert (link.context.trace_id, link.context.span_id) == (
        0x0AF7651916CD43DD8448EB211C80319C,
        0xB7AD6B7169203331,
    )


async def test_mqtt_311_has_no_properties_to_carry_the_trace_context(
    mosquitto: Mosquitto,
    subscriber: Client,
    topic: str,
    otel: Telemetry,
) -> None:
    client = client_for(mosquitto, protocol=ProtocolVersion.V311)
    instrument(client, **otel.providers)
    async with client:
        await client.publish(topic, b"x", qos=1)
        message = await next_message(subscriber)
    assert message.properties.user_properties == ()
    [span] = otel.finished(f"publish {topic}")
    assert (span.attributes or {})["network.protocol.version"] == "3.1.1"
    assert span.status.status_code is StatusCode.UNSET


async def test_the_publish_span_is_a_child_of_the_callers_span(
    mosquitto: Mosquitto,
    subscriber: Client,
    topic: str,
    otel: Telemetry,
) -> None:
    client = client_for(mosquitto)
    instrument(client, **otel.providers)
    tracer = otel.tracer()
    async with client:
        with tracer.start_as_current_span("request") as request:
            await client.publish(topic, b"x", qos=1)
        await next_message(subscriber)
    [span] = otel.finished(f"publish {topic}")
    assert span.parent is not None
    assert span.parent.span_id == request.get_span_context().span_id


async def test_publish_nowait_has_a_span_ended_with_its_outcome(
    mosquitto: Mosquitto,
    subscriber: Client,
    topic: str,
    otel: Telemetry,
) -> None:
    client = client_for(mosquitto)
    instrument(client, **otel.providers)
    async with client:
        futures = [client.publish_nowait(topic, str(n), qos=1) for n in range(3)]
        assert await asyncio.gather(*futures) == [0, 0, 0]
        messages = [await next_message(subscriber) for _ in range(3)]
        await asyncio.sleep(0)  # (the futures' done callbacks)
    spans = otel.finished(f"publish {topic}")
    assert len(spans) == 3
    assert all(span.status.status_code is StatusCode.UNSET for span in spans)
    assert [user_property(message, "traceparent")[0] for message in messages] == [
        traceparent(span) for span in spans
    ]


@pytest.mark.parametrize("qos", [1, 2])
async def test_a_refused_publish_ends_its_span_with_the_error(
    make_mosquitto: MosquittoFactory,
    otel: Telemetry,
    qos: int,
) -> None:
    broker = make_mosquitto(
        anonymous=False, users={"alice": "pw"}, acl="user alice\ntopic readwrite allowed/#\n"
    )
    client = client_for(broker, username="alice", password="pw")
    instrument(client, **otel.providers)
    async with client:
        with pytest.raises(MqttCodeError) as caught:
            await client.publish("denied/x", b"x", qos=qos)
        assert caught.value.rc == 0x87
    [span] = otel.finished("publish denied/x")
    assert span.status.status_code is StatusCode.ERROR
    attributes = span.attributes or {}
    assert attributes["error.type"] == "asyncmqtt.errors.MqttCodeError"
    assert attributes["asyncmqtt.reason_code"] == 0x87
    [event] = span.events
    assert event.name == "exception"
    # (the SDK's name of the type: qualified by recent versions)
    assert str((event.attributes or {})["exception.type"]).endswith("MqttCodeError")
    # ... and in the metrics: the refusal by reason code, the duration with its error.type.
    points = otel.data_points()
    assert value_of(points["asyncmqtt.client.publishes.refused"]) == {
        (("asyncmqtt.reason_code", 0x87),): 1
    }
    [duration] = points["messaging.client.operation.duration"]
    assert (duration.attributes or {})["error.type"] == "asyncmqtt.errors.MqttCodeError"


async def test_a_publish_that_failed_ends_its_span_with_the_error(
    mosquitto: Mosquitto,
    topic: str,
    otel: Telemetry,
) -> None:
    with Relay(mosquitto.port, mosquitto.host) as relay:
        client = Client(relay.host, relay.port, timeout=2.0)
        instrument(client, **otel.providers)
        async with client:
            # A bad argument: refused by the client itself.
            with pytest.raises(ValueError, match="wildcard"):
                await client.publish(f"{topic}/+", b"x", qos=1)
            # A QoS out of range: the client's own check says so, as without telemetry.
            with pytest.raises(ValueError, match="qos"):
                await client.publish(f"{topic}/qos", b"x", qos=3)
            # Written, never acknowledged (the path to the broker died).
            relay.blackhole()
            with pytest.raises(MqttTimeoutError):
                await client.publish(topic, b"x", qos=1, timeout=0.2)
            relay.cut()
    [refused] = otel.finished(f"publish {topic}/+")
    assert (refused.attributes or {})["error.type"] == "builtins.ValueError"
    assert refused.status.status_code is StatusCode.ERROR
    [bad_qos] = otel.finished(f"publish {topic}/qos")
    assert (bad_qos.attributes or {})["error.type"] == "builtins.ValueError"
    [timed_out] = otel.finished(f"publish {topic}")
    assert (timed_out.attributes or {})["error.type"] == "asyncmqtt.errors.MqttTimeoutError"
    assert timed_out.status.status_code is StatusCode.ERROR
    assert timed_out.status.description is not None
    assert "timed out" in timed_out.status.description


async def test_without_a_recording_tracer_nothing_is_added(
    mosquitto: Mosquitto, subscriber: Client, topic: str
) -> None:
    client = client_for(mosquitto)
    instrument(client, tracer_provider=trace.NoOpTracerProvider())
    async with client:
        await client.publish(topic, b"x", qos=1)
        message = await next_message(subscriber)
    assert message.properties.user_properties == ()


# ---------------------------------------------------------------------------- consumer spans


async def test_the_trace_continues_from_publisher_to_subscriber_across_the_broker(
    mosquitto: Mosquitto,
    topic: str,
    otel: Telemetry,
) -> None:
    publisher = client_for(mosquitto, identifier="otel-sensor")
    consumer = client_for(mosquitto, identifier="otel-consumer")
    instrument(publisher, **otel.providers)
    instrumentation = instrument(consumer, **otel.providers)
    tracer = otel.tracer()
    async with publisher, consumer:
        await consumer.subscribe(topic, qos=1)
        with tracer.start_as_current_span("measure"):
            await publisher.publish(topic, b"0.38", qos=1)
        message = await next_message(consumer)
        with instrumentation.processing(message), tracer.start_as_current_span("store"):
            pass
    [root] = otel.finished("measure")
    [publish] = otel.finished(f"publish {topic}")
    [receive] = otel.finished(f"receive {topic}")
    [process] = otel.finished(f"process {topic}")
    [store] = otel.finished("store")
    trace_id = root.context.trace_id
    assert {span.context.trace_id for span in (publish, receive, process, store)} == {trace_id}
    # measure -> publish -> receive, process -> store
    assert publish.parent is not None and publish.parent.span_id == root.context.span_id
    assert receive.parent is not None and receive.parent.span_id == publish.context.span_id
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert store.parent is not None and store.parent.span_id == process.context.span_id
    # The consumer spans link to the message's creation context, as the conventions ask.
    for span in (receive, process):
        assert [link.context.span_id for link in span.links] == [publish.context.span_id]
    assert receive.kind is SpanKind.CONSUMER and process.kind is SpanKind.CONSUMER
    assert dict(receive.attributes or {}) == {
        "messaging.system": "mqtt",
        "messaging.destination.name": topic,
        "messaging.operation.name": "receive",
        "messaging.operation.type": "receive",
        "messaging.client.id": "otel-consumer",
        "messaging.message.body.size": 4,
        "server.address": mosquitto.host,
        "server.port": mosquitto.port,
        "network.protocol.name": "mqtt",
        "network.protocol.version": "5.0",
        "asyncmqtt.qos": 1,
        "asyncmqtt.retain": False,
    }
    assert (process.attributes or {})["messaging.operation.type"] == "process"
    assert (process.attributes or {})["messaging.client.id"] == "otel-consumer"


async def test_a_message_without_a_trace_context_starts_a_new_trace(
    mosquitto: Mosquitto,
    topic: str,
    otel: Telemetry,
) -> None:
    consumer = client_for(mosquitto)
    tracer = otel.tracer()
    with tracer.start_as_current_span("connecting") as connecting:
        instrument(consumer, **otel.providers)
        await consumer.__aenter__()  # (the event loop's callbacks get this context)
    try:
        await consumer.subscribe(topic, qos=1)
        async with client_for(mosquitto, protocol=ProtocolVersion.V311) as publisher:
            await publisher.publish(topic, b"x", qos=1)
        await next_message(consumer)
    finally:
        await consumer.__aexit__(None, None, None)
    [receive] = otel.finished(f"receive {topic}")
    assert receive.parent is None and receive.links == ()
    assert receive.context.trace_id != connecting.get_span_context().trace_id


# ---------------------------------------------------------------------------- processing


def message_with(user_properties: tuple[tuple[str, str], ...] = ()) -> Message:
    properties = Properties(user_properties=user_properties) if user_properties else None
    return Message("sensors/1/humidity", b"0.38", 1, False, 7, properties)


CREATION = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_processing_continues_the_messages_trace(otel: Telemetry) -> None:
    message = message_with((("traceparent", CREATION), ("baggage", "tenant=acme")))
    from opentelemetry import baggage

    with processing(message, **otel.providers) as span:
        assert trace.get_current_span() is span
        assert baggage.get_baggage("tenant") == "acme"  # the publisher's baggage, inside
    assert baggage.get_baggage("tenant") is None
    [process] = otel.finished("process sensors/1/humidity")
    assert process.kind is SpanKind.CONSUMER
    assert process.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert process.parent is not None and process.parent.span_id == 0xB7AD6B7169203331
    assert [link.context.span_id for link in process.links] == [0xB7AD6B7169203331]
    assert process.status.status_code is StatusCode.UNSET
    attributes = process.attributes or {}
    assert attributes["messaging.operation.name"] == "process"
    assert attributes["messaging.message.body.size"] == 4
    [duration] = otel.data_points()["messaging.process.duration"]
    assert isinstance(duration, HistogramDataPoint) and duration.count == 1


def test_processing_inside_a_span_is_its_child_linked_to_the_message(otel: Telemetry) -> None:
    message = message_with((("traceparent", CREATION),))
    batch = otel.tracer().start_span("batch")
    with trace.use_span(batch, end_on_exit=True), processing(message, **otel.providers):
        pass
    [process] = otel.finished("process sensors/1/humidity")
    assert process.parent is not None
    assert process.parent.span_id == batch.get_span_context().span_id
    assert [link.context.span_id for link in process.links] == [0xB7AD6B7169203331]


def test_processing_a_message_without_context_is_a_new_trace(otel: Telemetry) -> None:
    with processing(message_with(), **otel.providers):
        pass
    [process] = otel.finished("process sensors/1/humidity")
    assert process.parent is None and process.links == ()


def test_an_exception_in_processing_is_recorded_and_raised(otel: Telemetry) -> None:
    with pytest.raises(KeyError), processing(message_with(), **otel.providers):
        raise KeyError("unknown sensor")
    [process] = otel.finished("process sensors/1/humidity")
    assert process.status.status_code is StatusCode.ERROR
    assert (process.attributes or {})["error.type"] == "builtins.KeyError"
    assert [event.name for event in process.events] == ["exception"]
    [duration] = otel.data_points()["messaging.process.duration"]
    assert (duration.attributes or {})["error.type"] == "builtins.KeyError"


def test_processing_takes_a_message() -> None:
    with pytest.raises(TypeError, match=r"asyncmqtt\.Message"):
        processing("sensors/1")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- metrics


IDENTITY = {"messaging.system", "messaging.client.id", "server.address", "server.port"}


def value_of(points: list[Any], client_id: str | None = None) -> dict[tuple[Any, ...], Any]:
    """A metric's values (of one client) by their attributes beyond the client's identity."""
    values = {}
    for point in points:
        attributes = dict(point.attributes)
        if client_id is not None and attributes.get("messaging.client.id") != client_id:
            continue
        key = tuple(sorted((k, v) for k, v in attributes.items() if k not in IDENTITY))
        values[key] = point.value
    return values


async def test_metrics_report_client_stats(
    mosquitto: Mosquitto,
    topic: str,
    otel: Telemetry,
) -> None:
    client = client_for(mosquitto, identifier="otel-metrics", max_queued_incoming_messages=10)
    other = client_for(mosquitto, identifier="otel-metrics-other")
    instrument(client, **otel.providers)
    instrument(other, **otel.providers)
    async with client, other:
        await client.subscribe(topic, qos=2)
        for qos in (0, 1, 1, 2):
            await client.publish(topic, b"x" * 10, qos=qos)
        for _ in range(4):
            await next_message(client)
        await other.publish(topic, b"y", qos=1)
        async with asyncio.timeout(GUARD_SECONDS):
            while client.stats.queued_incoming < 1:
                await asyncio.sleep(0.01)
        points = otel.data_points()
        stats = client.stats
        publish = (("messaging.operation.name", "publish"), ("messaging.operation.type", "send"))
        receive = (("messaging.operation.name", "receive"), ("messaging.operation.type", "receive"))
        assert value_of(points["messaging.client.sent.messages"], "otel-metrics") == {
            (("asyncmqtt.qos", qos), *publish): stats.messages_sent[qos] for qos in range(3)
        }
        assert stats.messages_sent == [1, 2, 1]
        assert value_of(points["messaging.client.consumed.messages"], "otel-metrics") == {
            (("asyncmqtt.qos", qos), *receive): stats.messages_received[qos] for qos in range(3)
        }
        assert value_of(points["messaging.client.sent.messages"], "otel-metrics-other") == {
            (("asyncmqtt.qos", qos), *publish): [0, 1, 0][qos] for qos in range(3)
        }
        for name, value in [
            ("asyncmqtt.client.sent.bytes", stats.bytes_sent),
            ("asyncmqtt.client.received.bytes", stats.bytes_received),
            ("asyncmqtt.client.publishes.acknowledged", stats.publishes_acknowledged),
            ("asyncmqtt.client.publishes.failed", stats.publishes_failed),
            ("asyncmqtt.client.connections.established", stats.connections),
            ("asyncmqtt.client.connections.lost", stats.connection_losses),
            ("asyncmqtt.client.messages.discarded", stats.messages_discarded),
            ("asyncmqtt.client.responses.discarded", stats.responses_discarded),
            ("asyncmqtt.client.receive_maximum.exceeded", stats.receive_maximum_exceeded),
            ("asyncmqtt.client.messages.in_flight", stats.in_flight),
            ("asyncmqtt.client.messages.queued_outgoing", stats.queued_outgoing),
            ("asyncmqtt.client.messages.queued_incoming", stats.queued_incoming),
        ]:
            assert value_of(points[name], "otel-metrics") == {(): value}, name
        assert stats.publishes_acknowledged == 3 and stats.queued_incoming == 1
        assert stats.bytes_sent > 40 and stats.connections == 1
        assert "asyncmqtt.client.publishes.refused" not in points  # (none refused)
        attributes = next(
            dict(p.attributes)
            for p in points["asyncmqtt.client.connections.established"]
            if p.attributes["messaging.client.id"] == "otel-metrics"
        )
        assert attributes == {
            "messaging.system": "mqtt",
            "messaging.client.id": "otel-metrics",
            "server.address": mosquitto.host,
            "server.port": mosquitto.port,
        }
        # The duration of each publish, by QoS (without the client's identity).
        durations = {
            dict(p.attributes)["asyncmqtt.qos"]: p.count
            for p in points["messaging.client.operation.duration"]
            if "error.type" not in p.attributes
        }
        assert durations == {0: 1, 1: 3, 2: 1}


async def test_publish_durations_can_be_left_out(
    mosquitto: Mosquitto, subscriber: Client, topic: str, otel: Telemetry
) -> None:
    client = client_for(mosquitto)
    instrument(client, **otel.providers, publish_durations=False)
    async with client:
        await client.publish(topic, b"x", qos=1)
        await next_message(subscriber)
        points = otel.data_points()
    assert "messaging.client.operation.duration" not in points
    assert "messaging.client.sent.messages" in points
    assert len(otel.finished(f"publish {topic}")) == 1


# ---------------------------------------------------------------------------- instrument


async def test_instrument_and_uninstrument(
    mosquitto: Mosquitto,
    subscriber: Client,
    topic: str,
    otel: Telemetry,
) -> None:
    client = client_for(mosquitto, identifier="otel-lifecycle")
    instrumentation = instrument(client, **otel.providers)
    assert isinstance(instrumentation, Instrumentation)
    assert client._telemetry is instrumentation and instrumentation.client is client
    assert repr(instrumentation) == "<Instrumentation of client 'otel-lifecycle' (active)>"
    with pytest.raises(RuntimeError, match="instrumented already"):
        instrument(client, **otel.providers)
    async with client:
        await client.publish(topic, b"1", qos=1)
        await next_message(subscriber)
        assert uninstrument(client) is True
        assert client._telemetry is None and instrumentation.closed
        assert uninstrument(client) is False
        instrumentation.close()  # (again: nothing)
        await client.publish(topic, b"2", qos=1)
        message = await next_message(subscriber)
        assert message.properties.user_properties == ()
        assert "otel-lifecycle" not in str(otel.data_points())
        # Again, as a context manager.
        with instrument(client, **otel.providers):
            await client.publish(topic, b"3", qos=1)
            await next_message(subscriber)
        assert client._telemetry is None
    assert len(otel.finished(f"publish {topic}")) == 2


def test_instrument_takes_a_client() -> None:
    with pytest.raises(TypeError, match=r"asyncmqtt\.Client"):
        instrument("localhost")  # type: ignore[arg-type]


def test_an_instrumentation_does_not_keep_its_client_alive(otel: Telemetry) -> None:
    client = Client("localhost", identifier="otel-forgotten")
    instrumentation = instrument(client, **otel.providers)
    assert "otel-forgotten" in str(otel.data_points())
    del client
    gc.collect()
    assert instrumentation.client is None
    assert repr(instrumentation) == "<Instrumentation of client ? (active)>"
    assert "otel-forgotten" not in str(otel.data_points())


def test_the_module_exports_its_api() -> None:
    assert set(asyncmqtt.otel.__all__) == {
        "SCHEMA_URL",
        "SCOPE",
        "Instrumentation",
        "instrument",
        "processing",
        "uninstrument",
    }
    assert asyncmqtt.otel.SCHEMA_URL.startswith("https://opentelemetry.io/schemas/")
