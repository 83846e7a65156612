"""Router (asyncmqtt.router): patterns and their filters, matching, handler checks, the
subscriptions run() makes; dispatching offline through serve() on a stream the test feeds
(parameters, concurrency, order per topic, failures, acknowledgements, stopping); then end to
end against mosquitto through run(client)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mypy.api
import pytest
from both_brokers import AnyBroker, MakeBroker, restart
from broker import Mosquitto
from client_helpers import REPOSITORY, client_for, next_message

from asyncmqtt import Message, MqttError, Reconnect, Router, SubscribeOptions
from asyncmqtt import router as router_module
from asyncmqtt.messages import MessageFactory
from asyncmqtt.protocol.packets import Publish
from asyncmqtt.protocol.topics import matches
from asyncmqtt.router import Route, _covers, _overlap

if TYPE_CHECKING:
    from conftest import MosquittoFactory

GUARD = 10.0  # seconds: a test stuck waiting fails instead of hanging (never reached when passing)


async def nothing(message: Message) -> None:
    """A handler that takes no parameters."""


# ---------------------------------------------------------------------- patterns


def only_route(pattern: str, handler: Any = None) -> Route:
    router = Router()

    async def takes_anything(message: Message, **parameters: str) -> None:
        pass

    return router.add_route(pattern, handler or takes_anything)


@pytest.mark.parametrize(
    ("pattern", "topic_filter", "names"),
    [
        ("sensors/{room}/temperature", "sensors/+/temperature", ("room",)),
        ("{site}/{room}/x/{rest:path}", "+/+/x/#", ("site", "room", "rest")),
        ("{everything:path}", "#", ("everything",)),
        ("a/+/b/#", "a/+/b/#", ()),
        ("$share/workers/jobs/{kind}", "$share/workers/jobs/+", ("kind",)),
        ("$SYS/broker/{name:path}", "$SYS/broker/#", ("name",)),
        ("/leading/{x}", "/leading/+", ("x",)),
        ("plain/topic", "plain/topic", ()),
    ],
)
def test_a_pattern_becomes_a_filter_with_named_levels(
    pattern: str, topic_filter: str, names: tuple[str, ...]
) -> None:
    route = only_route(pattern)
    assert (route.pattern, route.topic_filter, route.parameter_names) == (
        pattern,
        topic_filter,
        names,
    )


@pytest.mark.parametrize(
    ("pattern", "topic", "parameters"),
    [
        ("sensors/{room}/temperature", "sensors/kitchen/temperature", {"room": "kitchen"}),
        ("sensors/{room}/temperature", "sensors/kitchen/humidity", None),
        ("sensors/{room}/temperature", "sensors/a/b/temperature", None),
        ("{a}/{b}/{rest:path}", "1/2/3/4", {"a": "1", "b": "2", "rest": "3/4"}),
        ("{a}/{b}/{rest:path}", "1/2", {"a": "1", "b": "2", "rest": ""}),  # '#': the parent
        ("{a}/{b}/{rest:path}", "1", None),
        ("logs/{rest:path}", "logs//x/", {"rest": "/x/"}),
        ("{everything:path}", "a/b", {"everything": "a/b"}),
        ("{everything:path}", "$SYS/uptime", None),  # wildcards first never match '$'
        ("{level}/x", "$SYS/x", None),
        ("$share/g/jobs/{kind}", "jobs/resize", {"kind": "resize"}),  # matched without prefix
        ("$share/g/jobs/{kind}", "$share/g/jobs/resize", None),
        ("a/+/{x}/#", "a/1/2/3/4", {"x": "2"}),
        ("a/{x}", "a/", {"x": ""}),
    ],
)
def test_match_says_whether_a_topic_is_the_routes_and_takes_its_parameters(
    pattern: str, topic: str, parameters: dict[str, str] | None
) -> None:
    assert only_route(pattern).match(topic) == parameters


@pytest.mark.parametrize(
    ("pattern", "rule"),
    [
        ("a/x{room}", "must be a whole level"),
        ("a/{room}x", "must be a whole level"),
        ("a/{room", "must be a whole level"),
        ("a/room}", "must be a whole level"),
        ("a/{{room}}", "must be a whole level"),
        ("a/{1room}", "'1room' is not a Python identifier"),
        ("a/{room-name}", "is not a Python identifier"),
        ("a/{class}", "'class' is not a Python identifier"),
        ("a/{}", "'' is not a Python identifier"),
        ("a/{x}/{x}", "parameter 'x' appears twice"),
        ("a/{x}/{x:path}", "parameter 'x' appears twice"),
        ("a/{rest:path}/b", "'{rest:path}' takes the rest of the topic: it must be last"),
        ("a/{x:int}", "unknown parameter type 'int'"),
        ("a/{x:}", "unknown parameter type ''"),
        ("$share/{group}/a", "the share name '{group}' cannot be a parameter"),
        ("a/#/b", "'#'"),
        ("a/b+", "'+'"),
        ("", "empty"),
        ("a/\x00", "U+0000"),
        ("$share/g", "shared subscription"),
        ("$share/g/x/{a}/#/{b}", "'#'"),
    ],
)
def test_an_invalid_pattern_raises_when_decorating_naming_the_pattern_and_the_rule(
    pattern: str, rule: str
) -> None:
    router = Router()
    with pytest.raises(ValueError, match="route pattern") as raised:
        router.route(pattern)(nothing)
    text = str(raised.value)
    assert repr(pattern) in text and rule in text
    assert not router.routes


def test_a_pattern_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="route pattern must be a str, got 7"):
        Router().route(7)(nothing)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- handlers


def test_the_decorator_returns_the_handler_itself() -> None:
    router = Router()

    async def temperature(message: Message, room: str) -> None:
        pass

    assert router.route("sensors/{room}/temperature", qos=1)(temperature) is temperature
    (route,) = router.routes
    assert route.handler is temperature and route.options == SubscribeOptions(qos=1)
    assert "sensors/{room}/temperature" in repr(route) and "temperature" in repr(route)


def test_a_handler_must_be_async() -> None:
    def blocking(message: Message) -> None:
        pass

    with pytest.raises(TypeError, match=r"route 'a': the handler .*blocking must be an async"):
        Router().route("a")(blocking)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="must be an async function, got 3"):
        Router().add_route("a", 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "signature_error"),
    [
        ("sensors/{room}/temperature", "missing a required argument: 'kind'"),
        ("sensors/{place}/{kind}", "unexpected keyword argument 'place'"),
    ],
)
def test_a_handler_that_does_not_take_the_parameters_is_refused(
    pattern: str, signature_error: str
) -> None:
    async def wrong(message: Message, kind: str) -> None:
        pass

    with pytest.raises(TypeError) as raised:
        Router().route(pattern)(wrong)
    text = str(raised.value)
    assert repr(pattern) in text and "cannot be called as handler(message, " in text
    assert signature_error in text


def test_a_handler_with_a_parameter_the_route_does_not_give_is_refused() -> None:
    async def wants_more(message: Message, room: str, floor: str) -> None:
        pass

    with pytest.raises(TypeError, match="missing a required argument: 'floor'"):
        Router().route("sensors/{room}")(wants_more)

    async def takes_nothing() -> None:
        pass

    with pytest.raises(TypeError, match="too many positional arguments"):
        Router().route("a")(takes_nothing)


def test_handlers_of_every_async_kind_are_accepted() -> None:
    router = Router()

    async def with_defaults(message: Message, room: str, unit: str = "C") -> None:
        pass

    async def any_keywords(message: Message, **parameters: str) -> None:
        pass

    async def two(message: Message, a: str, b: str) -> None:
        pass

    class Handler:
        async def __call__(self, message: Message, room: str) -> None:
            pass

        async def method(self, message: Message, room: str) -> None:
            pass

    router.route("a/{room}")(with_defaults)
    router.route("b/{room}/{rest:path}")(any_keywords)
    router.route("c/{room}")(Handler())
    router.route("d/{room}")(Handler().method)
    router.route("e/{a}")(functools.partial(two, b="fixed"))
    router.route("f/+/#")(nothing)
    assert len(router.routes) == 6


# ---------------------------------------------------------------------- subscriptions


def test_subscriptions_leave_out_filters_another_covers_at_the_higher_qos() -> None:
    router = Router()
    router.route("sensors/{room}/temperature", qos=1)(nothing_with("room"))
    router.route("alerts/{kind}", qos=2)(nothing_with("kind"))
    router.route("sensors/{rest:path}")(nothing_with("rest"))  # covers the first one
    router.route("alerts/fire")(nothing)  # covered by alerts/+
    router.route("sensors/{room}/humidity", qos=0)(nothing_with("room"))
    assert router.subscriptions == [
        ("alerts/+", SubscribeOptions(qos=2)),
        ("sensors/#", SubscribeOptions(qos=1)),
    ]


def test_subscriptions_keep_filters_of_other_groups_or_options_apart() -> None:
    router = Router()
    no_local = SubscribeOptions(qos=1, no_local=True)
    router.route("a/#")(nothing)
    router.route("$share/g/a/+")(nothing)  # another subscription: shared
    router.route("$share/g/a/b")(nothing)  # covered within its group
    router.route("$share/h/a/b")(nothing)  # another group
    router.route("a/x", options=no_local)(nothing)  # other options
    router.route("$SYS/x")(nothing)  # '#' does not match '$' topics
    router.route("+/x", qos=1)(nothing)
    router.route("a/x", options=no_local)(nothing)  # the same filter and options: once
    assert router.subscriptions == [
        ("a/#", SubscribeOptions()),
        ("$share/g/a/+", SubscribeOptions()),
        ("$share/h/a/b", SubscribeOptions()),
        ("a/x", no_local),
        ("$SYS/x", SubscribeOptions()),
        ("+/x", SubscribeOptions(qos=1)),
    ]


def test_one_filter_with_two_sets_of_options_is_refused() -> None:
    router = Router()
    router.route("a/{x}", qos=1)(nothing_with("x"))
    router.route("a/{y}", qos=2)(nothing_with("y"))  # only the QoS differs: fine
    with pytest.raises(ValueError, match=r"route 'a/\{z\}' subscribes to 'a/\+' as route"):
        router.route("a/{z}", options=SubscribeOptions(no_local=True))(nothing_with("z"))
    assert router.subscriptions == [("a/+", SubscribeOptions(qos=2))]


def test_bad_options_raise_naming_the_route() -> None:
    with pytest.raises(ValueError, match=r"route 'a': qos=3 is not a QoS level"):
        Router().route("a", qos=3)(nothing)
    with pytest.raises(TypeError, match=r"route 'a': options must be a SubscribeOptions"):
        Router().route("a", options=1)(nothing)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_error must be a callable"):
        Router(on_error=1)  # type: ignore[arg-type]


def nothing_with(*names: str) -> Any:
    """A handler taking ``names`` as keyword arguments."""

    async def handler(message: Message, **parameters: str) -> None:
        assert set(parameters) == set(names)

    return handler


def filters(depth: int) -> list[list[str]]:
    """Every filter of up to ``depth`` levels over a, $s, + and # ('#' last only)."""
    found = []
    for length in range(1, depth + 1):
        found.extend(
            list(levels)
            for levels in itertools.product(("a", "$s", "+", "#"), repeat=length)
            if "#" not in levels[:-1] and "$s" not in levels[1:]
        )
    return found


# Topic names that tell the filters above apart: their levels, a level none of them names,
# and empty levels, one level deeper than the deepest filter.
TOPICS = [
    "/".join(levels)
    for length in range(1, 5)
    for levels in itertools.product(("a", "$s", "z", ""), repeat=length)
    if "$s" not in levels[1:] and "/".join(levels)
]


def test_covers_and_overlap_agree_with_matching_on_every_small_filter() -> None:
    every = filters(3)
    matched = {"/".join(f): {t for t in TOPICS if matches("/".join(f), t)} for f in every}
    for wide, narrow in itertools.product(every, repeat=2):
        wide_topics, narrow_topics = matched["/".join(wide)], matched["/".join(narrow)]
        assert _covers(wide, narrow) is (narrow_topics <= wide_topics), (wide, narrow)
        assert _overlap(wide, narrow) is bool(narrow_topics & wide_topics), (wide, narrow)


TYPING_CASES = """
from typing import assert_type

import asyncmqtt

router = asyncmqtt.Router(max_concurrency=10)


@router.route("sensors/{room}/temperature", qos=1)
async def temperature(message: asyncmqtt.Message, room: str) -> int:
    return len(room)


async def use(message: asyncmqtt.Message) -> None:
    assert_type(await temperature(message, "kitchen"), int)
    await temperature("not a message", "kitchen")  # line 16


@router.route("a")  # line 19
def blocking(message: asyncmqtt.Message) -> None:
    pass


router.route("a", qos="1")  # line 24
"""


def test_the_decorator_keeps_the_handlers_type_under_mypy_strict(tmp_path: Path) -> None:
    cases = tmp_path / "cases.py"
    cases.write_text(TYPING_CASES)
    example = REPOSITORY / "examples" / "router.py"
    report, errors, status = mypy.api.run(
        ["--strict", "--cache-dir", str(REPOSITORY / ".mypy_cache"), str(example), str(cases)]
    )
    found = [
        line.split(": error: ")[0].rsplit(":", 1)[1]
        for line in report.splitlines()
        if ": error: " in line
    ]
    assert (status, errors, found) == (1, "", ["16", "19", "24"]), report
    assert '"temperature" has incompatible type "str"; expected "Message"' in report
    assert 'Value of type variable "HandlerT"' in report  # a sync function is refused
    assert "example" not in report  # examples/router.py is clean


# ---------------------------------------------------------------------- dispatching offline


class Feed:
    """A stream of messages the test puts in: serve() reads it as it reads a client's."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message | BaseException | None] = asyncio.Queue()
        self.taken = 0  # messages serve() took out

    def put(self, *messages: Message) -> None:
        for message in messages:
            self.queue.put_nowait(message)

    def end(self, error: BaseException | None = None) -> None:
        """The stream ends (None) or raises ``error``, after what was put before."""
        self.queue.put_nowait(error)

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        self.taken += 1
        return item


class Acks:
    """Makes messages as a client with manual_ack does, recording their acknowledgements."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self._make = MessageFactory(lambda message: self.acked.append(message.mid))
        self._mids = itertools.count(1)

    def message(self, topic: str, payload: bytes = b"", qos: int = 1) -> Message:
        return self._make(Publish(topic, payload, qos, packet_id=next(self._mids)), 1)


def plain(topic: str, payload: str = "") -> Message:
    return Message(topic, payload, 0, False, 0)


async def guarded(awaitable: Any) -> Any:
    async with asyncio.timeout(GUARD):
        return await awaitable


async def test_serve_calls_each_matching_handler_with_the_parameters() -> None:
    router = Router()
    calls: list[tuple[str, object]] = []

    @router.route("sensors/{room}/temperature")
    async def temperature(message: Message, room: str) -> None:
        calls.append(("temperature", (room, message.payload)))

    @router.route("sensors/{rest:path}")
    async def everything(message: Message, rest: str) -> None:
        calls.append(("everything", rest))

    @router.route("sensors/+/+")
    async def anonymous(message: Message) -> None:
        calls.append(("anonymous", message.topic.value))

    feed = Feed()
    feed.put(plain("sensors/kitchen/temperature", "21.5"), plain("sensors/hall"))
    feed.end()
    await guarded(router.serve(feed))
    # (The two messages are on different topics: handled concurrently, in no set order.)
    assert sorted(calls, key=repr) == sorted(
        [
            ("temperature", ("kitchen", b"21.5")),
            ("everything", "kitchen/temperature"),
            ("anonymous", "sensors/kitchen/temperature"),
            ("everything", "hall"),
        ],
        key=repr,
    )
    assert (router.messages_handled, router.messages_unmatched) == (2, 0)


async def test_the_handlers_of_one_message_run_concurrently() -> None:
    router = Router()
    first_started = asyncio.Event()

    @router.route("t")
    async def first(message: Message) -> None:
        first_started.set()
        await second_ran.wait()  # (would wait forever if the handlers ran one by one)

    second_ran = asyncio.Event()

    @router.route("#")
    async def second(message: Message) -> None:
        await first_started.wait()
        second_ran.set()

    assert await guarded(router.handle(plain("t"))) == 2


async def test_messages_on_one_topic_are_handled_in_order_others_meanwhile() -> None:
    router = Router()
    events: list[str] = []
    release: dict[str, asyncio.Event] = {}
    started: dict[str, asyncio.Event] = {}

    @router.route("t/{n}")
    async def handler(message: Message, n: str) -> None:
        label = f"{n}:{message.payload.decode()}"
        events.append(f"start {label}")
        started.setdefault(label, asyncio.Event()).set()
        await release.setdefault(label, asyncio.Event()).wait()
        events.append(f"end {label}")

    feed = Feed()
    feed.put(plain("t/1", "a"), plain("t/1", "b"), plain("t/2", "c"), plain("t/1", "d"))
    serving = asyncio.create_task(router.serve(feed))
    await guarded(started.setdefault("2:c", asyncio.Event()).wait())
    # t/2 started although t/1's first message is not done; t/1's second waits for it.
    assert events == ["start 1:a", "start 2:c"]
    for label in ("1:b", "1:d", "2:c", "1:a"):
        release.setdefault(label, asyncio.Event()).set()
    feed.end()
    await guarded(serving)
    assert [e for e in events if "1:" in e] == [
        "start 1:a",
        "end 1:a",
        "start 1:b",
        "end 1:b",
        "start 1:d",
        "end 1:d",
    ]


async def test_at_most_max_concurrency_are_handled_and_max_pending_held() -> None:
    router = Router(max_concurrency=2, max_pending=3)
    running: list[str] = []
    release = asyncio.Event()
    two_running = asyncio.Event()

    @router.route("{topic}")
    async def handler(message: Message, topic: str) -> None:
        running.append(topic)
        if len(running) == 2:
            two_running.set()
        await release.wait()

    feed = Feed()
    feed.put(plain("a"), plain("b"), plain("c"), plain("d"))
    serving = asyncio.create_task(router.serve(feed))
    await guarded(two_running.wait())
    for _ in range(5):  # the loop turns: nothing more starts, nothing more is taken
        await asyncio.sleep(0)
    # Two handled, 'c' held waiting for a place, 'd' left in the stream.
    assert (running, feed.taken) == (["a", "b"], 3)
    release.set()
    feed.end()
    await guarded(serving)
    assert sorted(running) == ["a", "b", "c", "d"] and feed.taken == 4


async def test_a_message_waiting_behind_its_topic_is_held_too() -> None:
    router = Router(max_concurrency=2, max_pending=2)
    release = asyncio.Event()
    started: list[str] = []

    @router.route("{topic}")
    async def handler(message: Message, topic: str) -> None:
        started.append(topic)
        await release.wait()

    feed = Feed()
    feed.put(plain("a"), plain("a"), plain("b"))
    serving = asyncio.create_task(router.serve(feed))
    while feed.taken < 2:
        await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    # One handled, one waiting for it: the router holds two, and 'b' stays in the stream
    # although a place to handle it is free.
    assert (started, feed.taken) == (["a"], 2)
    release.set()
    feed.end()
    await guarded(serving)
    assert sorted(started) == ["a", "a", "b"]


def test_the_limits_are_checked() -> None:
    assert Router(max_concurrency=7).max_pending == 70
    assert Router(max_concurrency=7, max_pending=7).max_pending == 7
    with pytest.raises(ValueError, match="max_concurrency=0 is out of range"):
        Router(max_concurrency=0)
    with pytest.raises(ValueError, match="max_pending=6 is out of range: it must be between 7"):
        Router(max_concurrency=7, max_pending=6)
    with pytest.raises(TypeError, match="max_concurrency must be an int"):
        Router(max_concurrency=1.5)  # type: ignore[arg-type]


async def test_a_failing_handler_is_logged_with_the_topic_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()
    handled: list[str] = []

    @router.route("orders/{kind}")
    async def broken(message: Message, kind: str) -> None:
        if kind == "bad":
            raise RuntimeError("cannot parse the order")
        handled.append(f"broken {kind}")

    @router.route("orders/#")
    async def audit(message: Message) -> None:
        handled.append(f"audit {message.topic.value}")

    feed = Feed()
    feed.put(plain("orders/bad"), plain("orders/good"))
    feed.end()
    with caplog.at_level(logging.ERROR, logger="asyncmqtt"):
        await guarded(router.serve(feed))
    assert handled == ["audit orders/bad", "broken good", "audit orders/good"]
    (record,) = caplog.records
    assert "'orders/bad'" in record.getMessage() and "'orders/{kind}'" in record.getMessage()
    assert "broken" in record.getMessage() and "cannot parse the order" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert (router.handler_failures, router.messages_handled) == (1, 2)


async def test_on_error_gets_the_message_and_the_error_and_the_message_is_acked() -> None:
    failures: list[tuple[str, str]] = []

    async def on_error(message: Message, error: Exception) -> None:
        await asyncio.sleep(0)
        failures.append((message.topic.value, str(error)))

    router = Router(on_error=on_error)

    @router.route("jobs/{job}")
    async def job(message: Message, job: str) -> None:
        if job == "2":
            raise ValueError("no such job")

    acks = Acks()
    feed = Feed()
    feed.put(acks.message("jobs/1"), acks.message("jobs/2"), acks.message("jobs/3", qos=0))
    feed.end()
    await guarded(router.serve(feed))
    assert failures == [("jobs/2", "no such job")]
    assert sorted(acks.acked) == [1, 2]  # QoS 0 (3) has nothing to acknowledge


async def test_a_sync_on_error_works_too() -> None:
    seen: list[Exception] = []
    router = Router(on_error=lambda message, error: seen.append(error))

    @router.route("x")
    async def failing(message: Message) -> None:
        raise KeyError("k")

    assert await router.handle(plain("x")) == 1
    assert isinstance(seen[0], KeyError)


async def test_raising_from_on_error_stops_serving_with_that_exception() -> None:
    def on_error(message: Message, error: Exception) -> None:
        raise error

    router = Router(on_error=on_error)
    slow_started = asyncio.Event()
    slow_cancelled = asyncio.Event()

    @router.route("slow")
    async def slow(message: Message) -> None:
        slow_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            slow_cancelled.set()
            raise

    @router.route("fatal")
    async def fatal(message: Message) -> None:
        await slow_started.wait()
        raise LookupError("stop everything")

    acks = Acks()
    feed = Feed()
    feed.put(acks.message("slow"), acks.message("fatal"))
    with pytest.raises(LookupError, match="stop everything"):
        await guarded(router.serve(feed))
    assert slow_cancelled.is_set()
    assert acks.acked == []  # neither finished: neither is acknowledged
    assert not asyncio.current_task().cancelling()  # type: ignore[union-attr]


async def test_a_second_failure_while_stopping_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def on_error(message: Message, error: Exception) -> None:
        raise error

    router = Router(on_error=on_error)

    @router.route("{topic}")
    async def failing(message: Message, topic: str) -> None:
        raise RuntimeError(f"failed on {topic}")

    feed = Feed()
    feed.put(plain("a"), plain("b"))  # (both taken before either handler runs)
    with (
        caplog.at_level(logging.ERROR, logger="asyncmqtt"),
        pytest.raises(RuntimeError, match="failed on a"),
    ):
        await guarded(router.serve(feed))
    assert "on_error raised while the router was stopping: RuntimeError('failed on b')" in (
        caplog.text
    )


async def test_handle_raises_what_on_error_raises_and_does_not_acknowledge() -> None:
    def on_error(message: Message, error: Exception) -> None:
        raise MqttError("dead letter topic unreachable") from error

    router = Router(on_error=on_error)

    @router.route("x")
    async def failing(message: Message) -> None:
        raise ValueError

    @router.route("#")
    async def stuck(message: Message) -> None:
        await asyncio.Event().wait()  # cancelled when the other one stops the message

    acks = Acks()
    with pytest.raises(MqttError, match="dead letter"):
        await guarded(router.handle(acks.message("x")))
    assert acks.acked == []


async def test_a_message_no_route_matches_is_counted_logged_and_acknowledged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()
    router.route("a/{x}")(nothing_with("x"))
    acks = Acks()
    feed = Feed()
    feed.put(acks.message("b/1"), acks.message("b/2"), acks.message("a/1"))
    feed.end()
    with caplog.at_level(logging.DEBUG, logger="asyncmqtt"):
        await guarded(router.serve(feed))
    assert (router.messages_unmatched, router.messages_handled) == (2, 1)
    assert acks.acked == [1, 2, 3]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no route matches the message on topic 'b/1'" in warnings[0]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("'b/2'" in text and "2 in all" in text for text in debug)
    assert await router.handle(plain("c")) == 0 and router.messages_unmatched == 3


async def test_a_handler_that_acks_itself_is_not_acked_again() -> None:
    router = Router()

    @router.route("x")
    async def early(message: Message) -> None:
        await message.ack()

    acks = Acks()
    await router.handle(acks.message("x"))
    assert acks.acked == [1]


async def test_cancelling_serve_cancels_the_handlers_and_says_what_was_not_finished(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()
    started = asyncio.Event()

    @router.route("{topic}")
    async def forever(message: Message, topic: str) -> None:
        started.set()
        await asyncio.Event().wait()

    acks = Acks()
    feed = Feed()
    feed.put(acks.message("a"), acks.message("a"), acks.message("b"))
    serving = asyncio.create_task(router.serve(feed))
    await guarded(started.wait())
    while feed.taken < 3:
        await asyncio.sleep(0)
    serving.cancel()
    with (
        caplog.at_level(logging.WARNING, logger="asyncmqtt"),
        pytest.raises(asyncio.CancelledError),
    ):
        await serving
    assert "stopped with 3 messages not finished" in caplog.text
    assert acks.acked == []


async def test_when_the_stream_raises_the_messages_taken_are_handled_then_it_raises() -> None:
    router = Router()
    release = asyncio.Event()
    handled: list[str] = []

    @router.route("{topic}")
    async def handler(message: Message, topic: str) -> None:
        await release.wait()
        handled.append(topic)

    feed = Feed()
    feed.put(plain("a"), plain("b"))
    feed.end(MqttError("the connection ended"))
    serving = asyncio.create_task(router.serve(feed))
    while feed.taken < 2:
        await asyncio.sleep(0)
    release.set()
    with pytest.raises(MqttError, match="the connection ended"):
        await guarded(serving)
    assert sorted(handled) == ["a", "b"]


async def test_the_routes_of_a_topic_are_remembered_until_a_route_is_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(router_module, "_MATCH_CACHE_LIMIT", 2)
    router = Router()
    calls: list[str] = []

    @router.route("a/{x}")
    async def first(message: Message, x: str) -> None:
        calls.append(f"first {x}")

    for topic in ("a/1", "a/2", "a/3", "a/1"):  # (the third one clears the full memory)
        await router.handle(plain(topic))

    @router.route("#")
    async def everything(message: Message) -> None:
        calls.append(f"everything {message.topic.value}")

    await router.handle(plain("a/1"))  # the new route is seen at once
    assert calls == ["first 1", "first 2", "first 3", "first 1", "first 1", "everything a/1"]


async def test_routes_cannot_change_while_serving() -> None:
    router = Router()
    router.route("a")(nothing)
    feed = Feed()
    serving = asyncio.create_task(router.serve(feed))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cannot add the route 'b' while the router runs"):
        router.route("b")(nothing)
    feed.end()
    await guarded(serving)
    router.route("b")(nothing)  # (stopped: fine again)
    assert len(router.routes) == 2


async def test_run_needs_routes() -> None:
    with pytest.raises(ValueError, match="the router has no routes"):
        await Router().run(None)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- end to end (mosquitto)


class Seen:
    """What handlers saw, with a way to wait for it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def add(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def wait_for(self, item: Any) -> None:
        await self.wait_until(lambda items: item in items)

    async def wait_until(self, done: Callable[[list[Any]], bool]) -> None:
        async with asyncio.timeout(GUARD):
            while not done(self.items):
                self._changed.clear()
                await self._changed.wait()


async def start(router: Router, client: Any) -> asyncio.Task[None]:
    """``router.run(client)`` in a task, once its SUBSCRIBE is acknowledged."""
    subscribed = asyncio.Event()
    runner = asyncio.create_task(router.run(client, subscribed=subscribed))
    waiter = asyncio.create_task(subscribed.wait())
    await asyncio.wait((runner, waiter), timeout=GUARD, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if runner.done():
        runner.result()  # (raises what run raised)
    assert subscribed.is_set()
    return runner


async def test_run_subscribes_once_dispatches_by_topic_and_takes_nothing_else(
    broker: AnyBroker, topic: str
) -> None:
    router = Router()
    seen = Seen()

    @router.route(f"{topic}/sensors/{{room}}/temperature", qos=1)
    async def temperature(message: Message, room: str) -> None:
        seen.add(("temperature", room, message.payload.decode(), message.qos))

    @router.route(f"{topic}/sensors/{{rest:path}}")
    async def sensors(message: Message, rest: str) -> None:
        seen.add(("sensors", rest))

    @router.route(f"{topic}/alerts/+", qos=2)
    async def alerts(message: Message) -> None:
        seen.add(("alert", message.topic.value.rsplit("/", 1)[1], message.qos))

    async with client_for(broker) as client:
        await client.subscribe(f"{topic}/other/#")
        # Reading client.messages from the start: it gets what the router's stream does not
        # take (see the guide Filtered streams for the case where nobody reads it).
        other = asyncio.create_task(next_message(client.messages))
        # A retained message on a route's topic: its arrival says the router subscribed.
        await client.publish(f"{topic}/alerts/ready", "up", qos=1, retain=True)
        runner = asyncio.create_task(router.run(client))
        await seen.wait_for(("alert", "ready", 1))
        await client.publish(f"{topic}/sensors/kitchen/temperature", "21.5", qos=1)
        await client.publish(f"{topic}/sensors/hall/door", "open", qos=1)
        await client.publish(f"{topic}/other/x", "not the router's", qos=1)
        await client.publish(f"{topic}/alerts/fire", "drill", qos=2)
        await seen.wait_for(("alert", "fire", 2))
        await seen.wait_for(("sensors", "hall/door"))
        assert ("temperature", "kitchen", "21.5", 1) in seen.items
        assert ("sensors", "kitchen/temperature") in seen.items
        # The other subscription's message went to client.messages, and nothing else did.
        assert (await other).topic.value == f"{topic}/other/x"
        assert len(client.messages) == 0
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        # Unsubscribed on the way out: nobody subscribes to the routes' topics any more.
        assert await client.publish(f"{topic}/alerts/fire", "gone", qos=1) == 0x10
        await client.publish(f"{topic}/alerts/ready", None, qos=1, retain=True)
    # One SUBSCRIBE for the routes (sensors/# stands for sensors/+/temperature), one for
    # the test's own; one UNSUBSCRIBE: mosquitto's log shows the packets it received.
    if isinstance(broker, Mosquitto):
        log = broker.log_text()
        assert log.count(f"Received SUBSCRIBE from {client.identifier}") == 2
        assert f"{topic}/sensors/# (QoS 1)" in log and f"{topic}/alerts/+ (QoS 2)" in log
        assert f"{topic}/sensors/+/temperature (QoS" not in log
        assert log.count(f"Received UNSUBSCRIBE from {client.identifier}") == 1


async def test_run_handles_topics_concurrently_and_each_topic_in_order(
    mosquitto: Mosquitto, topic: str
) -> None:
    router = Router(max_concurrency=2)
    seen = Seen()
    fast_done = asyncio.Event()

    @router.route(f"{topic}/lane/{{lane}}", qos=1)
    async def handler(message: Message, lane: str) -> None:
        number = int(message.payload)
        if lane == "slow" and number == 0:
            await fast_done.wait()  # held until the other lane is through: proves concurrency
        seen.add((lane, number))
        if (lane, number) == ("fast", 9):
            fast_done.set()

    async with client_for(mosquitto) as client:
        runner = await start(router, client)
        for number in range(10):
            await client.publish(f"{topic}/lane/slow", str(number), qos=1)
            await client.publish(f"{topic}/lane/fast", str(number), qos=1)
        await seen.wait_for(("slow", 9))
        runner.cancel()
    slow = [number for lane, number in seen.items if lane == "slow"]
    fast = [number for lane, number in seen.items if lane == "fast"]
    assert slow == list(range(10)) and fast == list(range(10))
    # All of the fast lane was handled while the slow lane's first message was held.
    assert seen.items.index(("fast", 9)) < seen.items.index(("slow", 0))


async def test_run_logs_a_failing_handler_and_goes_on(
    mosquitto: Mosquitto, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router()
    seen = Seen()

    @router.route(f"{topic}/orders/{{order}}", qos=1)
    async def order(message: Message, order: str) -> None:
        if order == "broken":
            raise ValueError("unreadable order")
        seen.add(order)

    async with client_for(mosquitto) as client:
        runner = await start(router, client)
        with caplog.at_level(logging.ERROR, logger="asyncmqtt"):
            await client.publish(f"{topic}/orders/broken", "?", qos=1)
            await client.publish(f"{topic}/orders/next", "1", qos=1)
            await seen.wait_for("next")
        runner.cancel()
    assert f"on a message on topic '{topic}/orders/broken'" in caplog.text
    assert "unreadable order" in caplog.text and router.handler_failures == 1


async def test_with_manual_ack_a_message_is_acknowledged_once_its_handlers_finished(
    broker: AnyBroker, topic: str
) -> None:
    router = Router()
    seen = Seen()
    hanging = asyncio.Event()

    @router.route(f"{topic}/jobs/{{job}}", qos=1)
    async def job(message: Message, job: str) -> None:
        if job == "fails":
            raise RuntimeError("handled by on_error's default: logged")
        if job == "hangs":
            hanging.set()
            await asyncio.Event().wait()  # never finishes: cancelled with run()
        seen.add(job)

    worker = client_for(broker, identifier=f"router-{topic}", clean_session=False, manual_ack=True)
    async with worker:
        runner = await start(router, worker)
        for name in ("done", "fails", "hangs"):
            await worker.publish(f"{topic}/jobs/{name}", name, qos=1)
        await seen.wait_for("done")
        await guarded(hanging.wait())
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    # Back on the same session: the broker sends again only what was not acknowledged.
    async with worker:
        await worker.subscribe(f"{topic}/marker", qos=1)
        await worker.publish(f"{topic}/marker", "", qos=1)
        again = []
        while (message := await next_message(worker.messages)).topic.value != f"{topic}/marker":
            again.append(message.payload.decode())
            await message.ack()
        await message.ack()
        await worker.unsubscribe(f"{topic}/marker")
    assert again == ["hangs"]


async def test_run_goes_on_across_a_reconnect(make_broker: MakeBroker, topic: str) -> None:
    broker = await make_broker()
    router = Router()
    seen = Seen()

    @router.route(f"{topic}/{{name}}", qos=1)
    async def handler(message: Message, name: str) -> None:
        seen.add(name)

    client = client_for(broker, reconnect=Reconnect(initial_delay=0.2, jitter=False))
    async with client:
        runner = await start(router, client)
        await client.publish(f"{topic}/before", "", qos=1)
        await seen.wait_for("before")
        await restart(broker)  # the client's session ends with its connection (expiry 0)
        # The client reconnects and subscribes again (the broker lost the session); until
        # then a publish finds no subscriber (0x10).
        async with asyncio.timeout(GUARD):
            while await client.publish(f"{topic}/after", "", qos=1) == 0x10:
                pass
        await seen.wait_for("after")
        assert not runner.done()
        runner.cancel()
    assert client.stats.connections == 2


async def test_run_raises_when_the_connection_is_lost_without_reconnecting(
    make_mosquitto: MosquittoFactory, topic: str
) -> None:
    broker = make_mosquitto()
    router = Router()
    seen = Seen()

    @router.route(f"{topic}/{{name}}", qos=1)
    async def handler(message: Message, name: str) -> None:
        seen.add(name)

    async with client_for(broker) as client:
        runner = await start(router, client)
        await client.publish(f"{topic}/before", "", qos=1)
        await seen.wait_for("before")
        await asyncio.to_thread(broker.kill)
        with pytest.raises(MqttError, match="connection"):
            await guarded(runner)


async def test_a_shared_route_is_subscribed_with_its_group_and_matched_without_it(
    broker: AnyBroker, topic: str
) -> None:
    routers = [Router(), Router()]
    seen = Seen()
    for index, router in enumerate(routers):

        @router.route(f"$share/workers/{topic}/jobs/{{job}}", qos=1)
        async def job(message: Message, job: str, index: int = index) -> None:
            seen.add((index, job))

    async with client_for(broker) as first, client_for(broker) as second:
        runners = [await start(routers[0], first), await start(routers[1], second)]
        for number in range(6):
            await first.publish(f"{topic}/jobs/{number}", "", qos=1)
        wanted = {str(number) for number in range(6)}
        await seen.wait_until(lambda items: wanted <= {job for _, job in items})
        for runner in runners:
            runner.cancel()
    # Each job went to one of the two workers, once.
    assert sorted(job for _, job in seen.items) == [str(n) for n in range(6)]


async def test_partly_overlapping_routes_are_warned_about_and_each_copy_is_handled(
    broker: AnyBroker, broker_kind: str, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    router = Router()
    seen = Seen()

    @router.route(f"{topic}/{{a}}/c")
    async def first(message: Message, a: str) -> None:
        seen.add(("first", a))

    @router.route(f"{topic}/b/{{c}}")
    async def second(message: Message, c: str) -> None:
        seen.add(("second", c))

    with caplog.at_level(logging.WARNING, logger="asyncmqtt"):
        async with client_for(broker) as client:
            runner = await start(router, client)
            await client.publish(f"{topic}/b/c", "", qos=1)
            # How many copies come is the broker's choice (MQTT 5, 3.3.4: one, or one per
            # matching subscription): mosquitto sends MQTT 5 clients two here, the embedded
            # broker one. Each copy goes to both routes.
            copies = 2 if broker_kind == "mosquitto" else 1
            await seen.wait_until(
                lambda items: items.count(("first", "b")) == items.count(("second", "c")) == copies
            )
            runner.cancel()
    assert len(seen.items) == 2 * copies
    assert f"the routes' filters '{topic}/+/c' and '{topic}/b/+' overlap" in caplog.text
