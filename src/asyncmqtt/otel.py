"""OpenTelemetry for asyncmqtt: traces and metrics of a client (the ``otel`` extra).

``pip install "asyncmqtt[otel]"`` installs the OpenTelemetry API; the application brings
the SDK and its exporters, as with any OpenTelemetry instrumentation. Nothing happens until
``instrument(client)`` is called: a client without it pays one attribute read per publish and
per received message, and ``import asyncmqtt`` never imports OpenTelemetry.

What an instrumented client reports, following OpenTelemetry's semantic conventions for
messaging (version 1.44; attribute and metric names are written here as strings, so the
``opentelemetry-semantic-conventions`` package is not needed):

* a PRODUCER span ``publish <topic>`` per publish (``publish`` and ``publish_nowait``),
  from the call until the message is written (QoS 0) or acknowledged (QoS 1/2), with the
  error status, ``error.type`` and the exception recorded when it fails (a refusal, a
  timeout, a lost connection). With MQTT 5 the span's W3C trace context (``traceparent``,
  ``tracestate``: whatever the global propagator writes) travels in the PUBLISH's user
  properties, so a subscriber continues the trace; MQTT 3.1.1 has no properties, so
  nothing is carried there;
* a CONSUMER span ``receive <topic>`` per message received, a child of the context the
  message carries (and linked to it), so the trace continues from the publisher across the
  broker;
* ``processing(message)``: a CONSUMER span ``process <topic>`` around the application's
  handling of a message (the client cannot know when that ends);
* metrics read from ``client.stats`` when the metric reader collects (observable counters
  and up-down counters) and the duration of publishes and of processing (histograms).

Attribute names: ``messaging.system`` (``"mqtt"``), ``messaging.destination.name`` (the
topic), ``messaging.operation.name`` / ``messaging.operation.type``,
``messaging.client.id``, ``messaging.message.body.size`` (payload bytes),
``server.address`` / ``server.port``, ``network.protocol.name`` / ``.version``, ``error.type``;
MQTT's own, which the conventions do not define, under ``asyncmqtt.``: ``asyncmqtt.qos``,
``asyncmqtt.retain``, ``asyncmqtt.reason_code``. See the guide Observability.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any, Final

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, propagate, trace
    from opentelemetry.metrics import CallbackOptions, Histogram, Meter, MeterProvider, Observation
    from opentelemetry.propagators.textmap import Getter
    from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider
except ImportError as error:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        "asyncmqtt.otel needs the OpenTelemetry API, which asyncmqtt does not install by "
        'itself: pip install "asyncmqtt[otel]"'
    ) from error

from ._version import __version__
from .client import Client
from .messages import Message
from .protocol.enums import ProtocolVersion
from .protocol.properties import Properties

__all__ = ("SCHEMA_URL", "SCOPE", "Instrumentation", "instrument", "processing", "uninstrument")

_logger = logging.getLogger(__name__)

SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"
"""The schema of the semantic conventions the names follow (1.44), given with the tracer and
the meter."""
SCOPE: Final = "asyncmqtt"
"""The instrumentation scope: the name of the tracer and the meter (for views and filters)."""

# Attribute names (semantic conventions 1.44; MQTT's own under asyncmqtt.).
_SYSTEM: Final = "messaging.system"
_DESTINATION: Final = "messaging.destination.name"
_OPERATION_NAME: Final = "messaging.operation.name"
_OPERATION_TYPE: Final = "messaging.operation.type"
_CLIENT_ID: Final = "messaging.client.id"
_BODY_SIZE: Final = "messaging.message.body.size"
_SERVER_ADDRESS: Final = "server.address"
_SERVER_PORT: Final = "server.port"
_PROTOCOL_NAME: Final = "network.protocol.name"
_PROTOCOL_VERSION: Final = "network.protocol.version"
_ERROR_TYPE: Final = "error.type"
_QOS: Final = "asyncmqtt.qos"
_RETAIN: Final = "asyncmqtt.retain"
_REASON_CODE: Final = "asyncmqtt.reason_code"

_VERSIONS: Final = {
    ProtocolVersion.V31: "3.1",
    ProtocolVersion.V311: "3.1.1",
    ProtocolVersion.V5: "5.0",
}
# The buckets the conventions advise for durations in seconds.
_DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
)  # fmt: skip

_PUBLISH: Final = {_OPERATION_NAME: "publish", _OPERATION_TYPE: "send"}
_RECEIVE: Final = {_OPERATION_NAME: "receive", _OPERATION_TYPE: "receive"}
_PROCESS: Final = {_OPERATION_NAME: "process", _OPERATION_TYPE: "process"}
_TRACEPARENT: Final = "traceparent"
_MISSING: Final = object()

_Finish = Callable[[BaseException | None], None]
_UserProperties = tuple[tuple[str, str], ...]


class _UserPropertiesGetter(Getter[_UserProperties]):
    """Reads a propagator's fields from MQTT 5 user properties ((name, value) pairs)."""

    def get(self, carrier: _UserProperties, key: str) -> list[str] | None:
        values = [value for name, value in carrier if name == key]
        return values or None

    def keys(self, carrier: _UserProperties) -> list[str]:
        return [name for name, _ in carrier]


_GETTER: Final = _UserPropertiesGetter()


def _creation_context(properties: Properties) -> otel_context.Context | None:
    """The context a message carries in its user properties (from a fresh context), if any."""
    if not properties.user_properties:
        return None
    context = propagate.extract(
        properties.user_properties, context=otel_context.Context(), getter=_GETTER
    )
    if trace.get_current_span(context).get_span_context().is_valid:
        return context
    return None


def _error_attributes(error: BaseException) -> dict[str, Any]:
    """``error.type`` (the exception's qualified name) and, for a refusal, the reason code."""
    kind = type(error)
    attributes: dict[str, Any] = {_ERROR_TYPE: f"{kind.__module__}.{kind.__qualname__}"}
    code = getattr(error, "rc", None)
    if isinstance(code, int):
        attributes[_REASON_CODE] = int(code)
    return attributes


# ---------------------------------------------------------------------------- metrics


class _Meters:
    """The instruments of one meter provider, shared by every client reporting to it.

    An SDK meter keeps the first instrument registered under a name (and the callbacks of
    later ones are dropped), so the observable instruments are made once per provider and
    their callbacks report every instrumented client, each under its ``messaging.client.id``.
    The callbacks run in the metric reader's thread: the set of clients is guarded by a lock.
    """

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        self._instrumentations: weakref.WeakSet[Instrumentation] = weakref.WeakSet()
        self.publish_duration = _histogram(
            meter,
            "messaging.client.operation.duration",
            "Duration of publishes: until written (QoS 0) or acknowledged (QoS 1/2).",
        )
        self.process_duration = _histogram(
            meter,
            "messaging.process.duration",
            "Duration of the processing of messages (asyncmqtt.otel.processing).",
        )
        counters: list[tuple[str, str, str, Callable[[_Reading], Iterable[Observation]]]] = [
            (
                "messaging.client.sent.messages",
                "{message}",
                "Messages the client accepted to publish (client.stats.messages_sent).",
                _sent_messages,
            ),
            (
                "messaging.client.consumed.messages",
                "{message}",
                "Messages received (client.stats.messages_received).",
                _consumed_messages,
            ),
            (
                "asyncmqtt.client.sent.bytes",
                "By",
                "Bytes written to the network (client.stats.bytes_sent).",
                _stat("bytes_sent"),
            ),
            (
                "asyncmqtt.client.received.bytes",
                "By",
                "Bytes read from the network (client.stats.bytes_received).",
                _stat("bytes_received"),
            ),
            (
                "asyncmqtt.client.publishes.acknowledged",
                "{message}",
                "QoS 1/2 publishes the broker acknowledged with success.",
                _stat("publishes_acknowledged"),
            ),
            (
                "asyncmqtt.client.publishes.refused",
                "{message}",
                "QoS 1/2 publishes the broker refused, by asyncmqtt.reason_code.",
                _refused,
            ),
            (
                "asyncmqtt.client.publishes.failed",
                "{message}",
                "QoS 1/2 publishes that ended without the broker's answer.",
                _stat("publishes_failed"),
            ),
            (
                "asyncmqtt.client.connections.established",
                "{connection}",
                "Network connections established (CONNACK accepted).",
                _stat("connections"),
            ),
            (
                "asyncmqtt.client.connections.lost",
                "{connection}",
                "Established connections lost (not ended by leaving the async with block).",
                _stat("connection_losses"),
            ),
            (
                "asyncmqtt.client.messages.discarded",
                "{message}",
                "Messages no stream wanted, discarded (asyncio-mqtt 0.x streams).",
                _stat("messages_discarded"),
            ),
            (
                "asyncmqtt.client.responses.discarded",
                "{message}",
                "Messages on the response topic of client.request that no request waited for.",
                _stat("responses_discarded"),
            ),
            (
                "asyncmqtt.client.receive_maximum.exceeded",
                "{message}",
                "Messages the broker sent beyond our Receive Maximum, tolerated.",
                _stat("receive_maximum_exceeded"),
            ),
        ]
        for name, unit, description, read in counters:
            meter.create_observable_counter(
                name, callbacks=[self._callback(read)], unit=unit, description=description
            )
        depths = [
            ("in_flight", "QoS 1/2 publishes written and not yet acknowledged."),
            ("queued_outgoing", "Publishes waiting to be written."),
            ("queued_incoming", "Received messages waiting to be read."),
        ]
        for depth, description in depths:
            meter.create_observable_up_down_counter(
                f"asyncmqtt.client.messages.{depth}",
                callbacks=[self._callback(_depth(depth))],
                unit="{message}",
                description=description,
            )

    def add(self, instrumentation: Instrumentation) -> None:
        with self._lock:
            self._instrumentations.add(instrumentation)

    def discard(self, instrumentation: Instrumentation) -> None:
        with self._lock:
            self._instrumentations.discard(instrumentation)

    def _callback(
        self, read: Callable[[_Reading], Iterable[Observation]]
    ) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                instrumentations = list(self._instrumentations)
            observations: list[Observation] = []
            for instrumentation in instrumentations:
                reading = instrumentation._reading()
                if reading is not None:
                    observations.extend(read(reading))
            return observations

        return observe


class _Reading:
    """One client's stats and the attributes its observations carry."""

    __slots__ = ("attributes", "client")

    def __init__(self, client: Client, attributes: dict[str, Any]) -> None:
        self.client = client
        self.attributes = attributes


def _histogram(meter: Meter, name: str, description: str) -> Histogram:
    try:
        return meter.create_histogram(
            name,
            unit="s",
            description=description,
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
    except TypeError:  # (an API before 1.23 has no advisory)
        return meter.create_histogram(name, unit="s", description=description)


def _sent_messages(reading: _Reading) -> Iterator[Observation]:
    attributes = {**reading.attributes, **_PUBLISH}
    for qos, count in enumerate(reading.client.stats.messages_sent):
        yield Observation(count, {**attributes, _QOS: qos})


def _consumed_messages(reading: _Reading) -> Iterator[Observation]:
    attributes = {**reading.attributes, **_RECEIVE}
    for qos, count in enumerate(reading.client.stats.messages_received):
        yield Observation(count, {**attributes, _QOS: qos})


def _refused(reading: _Reading) -> Iterator[Observation]:
    for code, count in dict(reading.client.stats.publishes_refused).items():
        yield Observation(count, {**reading.attributes, _REASON_CODE: int(code)})


def _stat(name: str) -> Callable[[_Reading], Iterator[Observation]]:
    def read(reading: _Reading) -> Iterator[Observation]:
        yield Observation(getattr(reading.client.stats, name), reading.attributes)

    return read


def _depth(name: str) -> Callable[[_Reading], Iterator[Observation]]:
    def read(reading: _Reading) -> Iterator[Observation]:
        client = reading.client
        if name == "queued_incoming" and getattr(client, "_router", _MISSING) is None:
            # No stream yet, so nothing waits; and reading the depth would make the client's
            # router from the metric reader's thread, racing the event loop's.
            value = 0
        else:
            value = getattr(client.stats, name)
        yield Observation(value, reading.attributes)

    return read


class _Registry:
    """The ``_Meters`` of each meter provider (the global one under None)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_provider: weakref.WeakKeyDictionary[MeterProvider, _Meters] = (
            weakref.WeakKeyDictionary()
        )
        self._global: _Meters | None = None

    def meters(self, provider: MeterProvider | None) -> _Meters:
        with self._lock:
            if provider is None:
                if self._global is None:
                    self._global = _Meters(_meter(None))
                return self._global
            meters = self._by_provider.get(provider)
            if meters is None:
                meters = self._by_provider[provider] = _Meters(_meter(provider))
            return meters


# (the providers' own methods: the API's get_meter() took no schema_url before 1.23)
def _meter(provider: MeterProvider | None) -> Meter:
    if provider is None:
        provider = metrics.get_meter_provider()
    return provider.get_meter(SCOPE, __version__, schema_url=SCHEMA_URL)


def _tracer(provider: TracerProvider | None) -> trace.Tracer:
    if provider is None:
        provider = trace.get_tracer_provider()
    return provider.get_tracer(SCOPE, __version__, schema_url=SCHEMA_URL)


_REGISTRY: Final = _Registry()


# ---------------------------------------------------------------------------- traces


class Instrumentation:
    """OpenTelemetry installed on one client: what ``instrument(client)`` returns.

    The client calls ``publish_started`` for every publish and ``message_received`` for every
    message it routes (the telemetry protocol of the client); the application calls
    ``processing(message)`` around its handling of a message, and ``close()`` (or leaves
    ``with instrument(client):``) to stop: the client is then as if never instrumented, and
    its metrics are no longer reported. Spans of publishes still in progress end normally.
    """

    __slots__ = (
        "__weakref__",
        "_attributes",
        "_client",
        "_closed",
        "_key",
        "_meters",
        "_metric_attributes",
        "_publish_duration",
        "_publish_metrics",
        "_tracer",
    )

    def __init__(
        self,
        client: Client,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        publish_durations: bool = True,
    ) -> None:
        # The client holds its instrumentation; the instrumentation holds its client weakly.
        self._client: weakref.ref[Client] = weakref.ref(client)
        self._tracer = _tracer(tracer_provider)
        self._meters = _REGISTRY.meters(meter_provider)
        self._publish_duration = self._meters.publish_duration if publish_durations else None
        self._closed = False
        self._key: tuple[str, ProtocolVersion] | None = None
        self._attributes: dict[str, Any] = {}
        self._metric_attributes: dict[str, Any] = {}
        self._publish_metrics: list[dict[str, Any]] = [{} for _ in range(3)]

    @property
    def client(self) -> Client | None:
        """The instrumented client (None once it was garbage-collected)."""
        return self._client()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    def close(self) -> None:
        """Stop: the client gets no telemetry any more (if this one is still installed) and
        its metrics are no longer reported. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        client = self._client()
        if client is not None and client._telemetry is self:
            client._telemetry = None
        self._meters.discard(self)

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        client = self._client()
        state = "closed" if self._closed else "active"
        identifier = "?" if client is None else repr(client.identifier)
        return f"<Instrumentation of client {identifier} ({state})>"

    # -------------------------------------------------------------- the client's attributes

    def _client_attributes(self) -> dict[str, Any]:
        """The attributes every span of this client carries (remade when its identifier or
        its protocol version changed: an assigned identifier, a fallback to 3.1.1)."""
        client = self._client()
        if client is None:
            return self._attributes
        key = (client.identifier, client.protocol)
        if key != self._key:
            self._key = key
            identifier, version = key
            # (the broker as configured; read defensively: private to the client)
            settings = getattr(getattr(client, "_options", None), "transport", None)
            metric: dict[str, Any] = {_SYSTEM: "mqtt"}
            if identifier:
                metric[_CLIENT_ID] = identifier
            host = getattr(settings, "hostname", None)
            if isinstance(host, str):
                metric[_SERVER_ADDRESS] = host
            port = getattr(settings, "port", None)
            if isinstance(port, int) and getattr(settings, "transport", "tcp") != "unix":
                metric[_SERVER_PORT] = port
            self._metric_attributes = metric
            # (the publish durations: per QoS, without the client's identifier)
            common = {key: value for key, value in metric.items() if key != _CLIENT_ID}
            self._publish_metrics = [{**common, **_PUBLISH, _QOS: qos} for qos in range(3)]
            self._attributes = {
                **metric,
                _PROTOCOL_NAME: "mqtt",
                _PROTOCOL_VERSION: _VERSIONS.get(version, str(version)),
            }
        return self._attributes

    def _reading(self) -> _Reading | None:
        """This client's stats for the metric callbacks, or None when there is no client."""
        client = self._client()
        if client is None or self._closed:
            return None
        self._client_attributes()
        return _Reading(client, self._metric_attributes)

    # -------------------------------------------------------------- the telemetry protocol

    def publish_started(
        self,
        topic: str,
        qos: int,
        properties: Properties,
        v5: bool,
        payload_size: int | None = None,
    ) -> tuple[Properties, _Finish]:
        """A publish begins (called by the client): starts its PRODUCER span and returns the
        properties to send (with the trace context, for MQTT 5) and the function the client
        calls with the outcome. ``payload_size`` (bytes) is recorded when the client gives
        it."""
        if type(qos) is not int and isinstance(qos, int):
            qos = int(qos)  # (a QoS enum: recorded as its number)
        attributes = {**self._client_attributes(), _DESTINATION: topic, **_PUBLISH, _QOS: qos}
        if payload_size is not None:
            attributes[_BODY_SIZE] = payload_size
        links: list[Link] = []
        custom = None
        if properties.user_properties and any(
            name == _TRACEPARENT for name, _ in properties.user_properties
        ):
            # The application gave the message its own creation context: it is kept, and
            # the span links to it (the conventions' rule).
            custom = _creation_context(properties)
            if custom is not None:
                links.append(Link(trace.get_current_span(custom).get_span_context()))
        span = self._tracer.start_span(
            f"publish {topic}", kind=SpanKind.PRODUCER, attributes=attributes, links=links
        )
        if v5 and custom is None:
            properties = _inject(span, properties)
        metrics = self._publish_metrics
        # (a QoS out of range fails the publish later, in the client's own checks)
        metric = metrics[qos] if qos in (0, 1, 2) else {**metrics[0], _QOS: qos}
        return properties, _PublishOutcome(span, self._publish_duration, metric)

    def message_received(self, message: Message) -> None:
        """A message arrived (called by the client): records its CONSUMER span, a child of
        the context it carries (and linked to it)."""
        creation = _creation_context(message.properties)
        links: list[Link] = []
        if creation is not None:
            links.append(Link(trace.get_current_span(creation).get_span_context()))
        topic = str(message.topic)
        attributes = {
            **self._client_attributes(),
            _DESTINATION: topic,
            **_RECEIVE,
            _QOS: message.qos,
            _RETAIN: message.retain,
            _BODY_SIZE: len(message.payload),
        }
        # The parent is the message's context or none (a new trace): never whatever context
        # the event loop's callback happens to run in.
        span = self._tracer.start_span(
            f"receive {topic}",
            context=creation if creation is not None else otel_context.Context(),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
        )
        span.end()

    # -------------------------------------------------------------- processing

    def processing(self, message: Message) -> AbstractContextManager[Span]:
        """``processing(message)`` with this instrumentation's providers, and the client's
        attributes (``messaging.client.id``, ``server.address``, ...) on the span."""
        if not isinstance(message, Message):
            raise TypeError(
                f"processing() takes an asyncmqtt.Message, got {type(message).__name__}"
            )
        return _processing(message, self._tracer, self._meters, self._client_attributes())


def _inject(span: Span, properties: Properties) -> Properties:
    """``properties`` with ``span``'s context added as user properties (by the global
    propagator: W3C ``traceparent`` / ``tracestate``, and baggage by default)."""
    carrier: dict[str, str] = {}
    try:
        propagate.inject(carrier, context=trace.set_span_in_context(span))
    except Exception:  # (telemetry must never break a publish)
        _logger.debug("could not inject the trace context", exc_info=True)
        return properties
    if not carrier:
        return properties
    added = tuple(carrier.items())
    if not properties:
        return Properties(user_properties=added)
    kept = tuple(pair for pair in properties.user_properties if pair[0] not in carrier)
    return replace(properties, user_properties=kept + added)


class _PublishOutcome:
    """The ``finish`` of one publish: ends its span, records its duration."""

    __slots__ = ("_histogram", "_metric", "_span", "_start")

    def __init__(self, span: Span, histogram: Histogram | None, metric: dict[str, Any]) -> None:
        self._span = span
        self._histogram = histogram
        self._metric = metric
        self._start = time.perf_counter()

    def __call__(self, error: BaseException | None) -> None:
        elapsed = time.perf_counter() - self._start
        span = self._span
        metric = self._metric
        if error is not None:
            failure = _error_attributes(error)
            metric = {**metric, _ERROR_TYPE: failure[_ERROR_TYPE]}
            span.set_attributes(failure)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()
        if self._histogram is not None:
            self._histogram.record(elapsed, metric)


@contextmanager
def _processing(
    message: Message, tracer: trace.Tracer, meters: _Meters, client_attributes: dict[str, Any]
) -> Iterator[Span]:
    creation = _creation_context(message.properties)
    ambient = trace.get_current_span().get_span_context()
    links: list[Link] = []
    if creation is not None:
        links.append(Link(trace.get_current_span(creation).get_span_context()))
    topic = str(message.topic)
    attributes = {
        **client_attributes,
        _SYSTEM: "mqtt",
        _DESTINATION: topic,
        **_PROCESS,
        _QOS: message.qos,
        _RETAIN: message.retain,
        _BODY_SIZE: len(message.payload),
    }
    # Inside another span (a request, a loop the application traces), the process span is
    # its child, linked to the message's creation context; else the message's context is
    # its parent (and its baggage is current while it runs), so the trace goes on.
    token = None
    if creation is not None and not ambient.is_valid:
        token = otel_context.attach(creation)
    metric: dict[str, Any] = {_SYSTEM: "mqtt", **_PROCESS}
    start = time.perf_counter()
    try:
        with tracer.start_as_current_span(
            f"process {topic}", kind=SpanKind.CONSUMER, attributes=attributes, links=links
        ) as span:
            try:
                yield span
            except BaseException as error:
                failure = _error_attributes(error)
                metric[_ERROR_TYPE] = failure[_ERROR_TYPE]
                span.set_attributes(failure)
                raise
    finally:
        if token is not None:
            otel_context.detach(token)
        meters.process_duration.record(time.perf_counter() - start, metric)


def processing(
    message: Message,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> AbstractContextManager[Span]:
    """A CONSUMER span ``process <topic>`` around the application's handling of ``message``::

        async for message in client.messages:
            with asyncmqtt.otel.processing(message):
                await handle(message)

    The span is current inside the block (spans made there are its children) and is what
    the ``with`` gives. An exception leaving the block is recorded on it (error status,
    ``error.type``) and raised on. It is linked to the context the message carries; its parent
    is the span current where it starts or, when there is none, the message's context (then
    the trace continues from the publisher, and the message's baggage is current inside).
    Its duration is recorded in the ``messaging.process.duration`` histogram.

    ``tracer_provider`` / ``meter_provider``: where the span and the duration go (default:
    the global providers). ``Instrumentation.processing(message)`` uses the instrumentation's.
    The client need not be instrumented.
    """
    if not isinstance(message, Message):
        raise TypeError(f"processing() takes an asyncmqtt.Message, got {type(message).__name__}")
    return _processing(message, _tracer(tracer_provider), _REGISTRY.meters(meter_provider), {})


def instrument(
    client: Client,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    publish_durations: bool = True,
) -> Instrumentation:
    """Report ``client``'s publishes, received messages and stats to OpenTelemetry.

    ``tracer_provider`` / ``meter_provider``: where spans and metrics go (default: the global
    providers, ``opentelemetry.trace.set_tracer_provider`` / ``metrics.set_meter_provider``;
    set before or after, the global proxies forward). ``publish_durations``: record each
    publish's duration in the ``messaging.client.operation.duration`` histogram (False saves
    the SDK's work per publish, most of the cost when spans are sampled out; the spans still
    have their durations). Returns the ``Instrumentation``: its ``close()`` (or
    ``uninstrument(client)``) stops it. Any time in the client's life, in or out of its
    ``async with`` block.

    Raises ``TypeError`` when ``client`` is not an ``asyncmqtt.Client`` and ``RuntimeError``
    when it is instrumented already.
    """
    if not isinstance(client, Client):
        raise TypeError(f"instrument() takes an asyncmqtt.Client, got {type(client).__name__}")
    if client._telemetry is not None:
        raise RuntimeError(
            f"client {client.identifier!r} is instrumented already; close() its "
            "Instrumentation (or call uninstrument(client)) first"
        )
    instrumentation = Instrumentation(
        client,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        publish_durations=publish_durations,
    )
    client._telemetry = instrumentation
    instrumentation._meters.add(instrumentation)
    return instrumentation


def uninstrument(client: Client) -> bool:
    """Stop reporting ``client`` (``close()`` its ``Instrumentation``). Returns whether it
    was instrumented."""
    telemetry = client._telemetry
    if isinstance(telemetry, Instrumentation):
        telemetry.close()
        return True
    return False
