"""Routing messages to handlers by topic: ``Router``.

Theory of operation
-------------------
A route is a *pattern* and an async *handler*. A pattern is a topic filter whose levels may be
named parameters: ``{name}`` stands for one level (``+``), and ``{name:path}``, only as the
last level, for that level and everything below it (``#``). Plain ``+`` and ``#`` work too
(their levels are passed to nobody), and ``$share/{group}/...`` makes a shared subscription:
the filter is subscribed with its prefix and matched without it, as MQTT does. A pattern is
parsed once, when the route is added, into the filter to subscribe to and the positions of
its parameters; everything wrong with it raises there, naming the pattern and the rule. The
handler's signature is checked there too: it must accept ``handler(message, **parameters)``.

Receiving (``run``). The router takes only the messages of its routes, and takes nothing from
other readers: ``run(client)`` opens ``client.subscription(router.subscriptions)``, which
subscribes to every route's filter in one SUBSCRIBE and is a stream of the messages matching
any of those filters, each once, in arrival order. Like any filtered stream it takes its
messages in the place of ``client.messages`` (which keeps everything no filtered stream takes),
while other ``subscription()`` / ``filtered_messages()`` streams whose filters match still get
their own copy. Reading ``client.messages`` instead would take every other message from
whoever reads it; a ``subscription()`` per route would send a SUBSCRIBE each and lose the
order between routes. When ``run`` ends, the block ends: the filters that no other
``subscription()`` holds are unsubscribed (one UNSUBSCRIBE). (A program that also subscribes
to other topics should read ``client.messages`` from the start: with a filtered stream open,
messages nobody wants while nobody reads it are discarded and reported, as messages.py says.)

Overlapping filters. MQTT lets a broker send a message once per subscription it matches, and
mosquitto 2 does so with MQTT 5; each copy would reach every matching handler. So the router
does not subscribe to a filter that another of its filters covers (same shared group, same
options): ``sensors/+/temperature`` is not subscribed beside ``sensors/#``, which is subscribed
at the higher of their QoS. Filters that only partly overlap (``a/+/c`` and ``a/b/+``) cannot be
merged that way; ``run`` logs a WARNING naming them.

Dispatching (``serve``). A message goes to every route whose filter matches its topic, in the
order the routes were added, each handler called with the parameters taken from the topic
(``str``); the routes of a topic are found once and remembered (up to 4096 topics, then the
memory starts afresh). The message's handlers run concurrently; the message is done when all of
them have finished. Messages on one topic are handled one after another, in arrival order;
messages on different topics concurrently, at most ``max_concurrency`` at once. A topic with a
message in flight has a lane: a deque of the messages that came after it on that topic, and one
task that handles them in order, each after taking one of the ``max_concurrency`` places, and
ends when the lane is empty (so the lanes are only the topics in flight, and a busy topic costs
no task per message). The router holds at most ``max_pending`` messages (being handled or
waiting): it takes the next one from the stream only when it has room, so slow handlers slow the
reading, and what the router cannot take yet waits in the client (with the client's
backpressure), never in an unbounded queue here. ``max_pending`` is larger than
``max_concurrency`` so that messages piling up behind one slow topic do not stop the others at
once.

Failures. A handler's exception goes to ``on_error(message, error)``; the default logs it at
ERROR with the message's topic and the route's pattern. The other handlers, and the next
messages, go on. If ``on_error`` raises, serving stops: the handlers still running are
cancelled and ``serve`` / ``run`` raise that exception.

Acknowledgements (``Client(manual_ack=True)``). A QoS 1/2 message is acknowledged when all its
handlers have finished, also when one of them failed and ``on_error`` returned (the failure
was dealt with: acknowledging avoids a message that fails every time coming back forever).
It is not acknowledged when ``on_error`` raised, when it was still being handled or waiting
as serving stopped, or when a handler acknowledged it itself. A message that matches no route
(possible with ``serve``) is acknowledged once reported.

Nothing is dropped silently: a message that matches no route is counted
(``messages_unmatched``) and logged (WARNING at most every 10 seconds, DEBUG in between); when
serving stops with messages not finished (cancelled while being handled or waiting), their
number is logged at WARNING.
"""

from __future__ import annotations

import asyncio
import inspect
import keyword
import logging
import math
import re
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar

from ._checks import Logger, check_logger
from .messages import Message
from .protocol.checks import check_int, show
from .protocol.properties import Properties
from .protocol.topics import (
    FilterTrie,
    matches,
    parse_shared_subscription,
    validate_topic_filter,
)
from .types import SubscribeOptions, subscriptions_from

if TYPE_CHECKING:
    from .client import Client

__all__ = ("ErrorHandler", "Handler", "Route", "Router")

Handler: TypeAlias = Callable[..., Awaitable[object]]
"""A route's handler: an async function called as ``await handler(message, **parameters)``
with the ``Message`` and the route's parameters as ``str`` keyword arguments."""

ErrorHandler: TypeAlias = Callable[[Message, Exception], Awaitable[None] | None]
"""``on_error(message, error)``: called (and awaited if it is async) with the message and the
exception when a handler raises; raising from it stops the router with that exception."""

HandlerT = TypeVar("HandlerT", bound=Handler)

_UNMATCHED_WARNING_INTERVAL: Final = 10.0  # seconds between warnings of unmatched messages
_MATCH_CACHE_LIMIT: Final = 4096  # topics whose routes are remembered
_PARAMETER = re.compile(r"\{([^{}:]*)(?::([^{}]*))?\}")
_SHARE_PREFIX = "$share/"


class Route:
    """One route of a ``Router``: a pattern, the filter it subscribes to, and its handler.

    The router makes routes (``Router.route`` / ``Router.add_route``); ``Router.routes``
    lists them. ``match(topic)`` says whether a topic is the route's, with its parameters.
    """

    __slots__ = (
        "_match_filter",
        "_order",
        "_rest",
        "_singles",
        "handler",
        "options",
        "parameter_names",
        "pattern",
        "topic_filter",
    )

    def __init__(
        self, pattern: str, handler: Handler, options: SubscribeOptions, order: int
    ) -> None:
        topic_filter, singles, rest = _parse(pattern)
        self.pattern: str = pattern
        """The pattern as given, e.g. ``"sensors/{room}/temperature"``."""
        self.topic_filter: str = topic_filter
        """The filter subscribed to, e.g. ``"sensors/+/temperature"`` (with its
        ``$share/{group}/`` prefix for a shared subscription)."""
        self.handler: Handler = handler
        """The async function called for each matching message."""
        self.options: SubscribeOptions = options
        """The QoS and MQTT 5 subscription options asked for."""
        self.parameter_names: tuple[str, ...] = tuple(name for _, name in singles) + (
            () if rest is None else (rest[1],)
        )
        """The names of the pattern's parameters, in the order they appear."""
        self._match_filter = parse_shared_subscription(topic_filter)[1]
        self._singles = singles  # (level index, name) of each {name}
        self._rest = rest  # (level index, name) of a {name:path}, or None
        self._order = order  # its place among the router's routes

    def match(self, topic: str) -> dict[str, str] | None:
        """The parameters taken from the topic name ``topic`` if this route's filter matches
        it, else None. A ``{name:path}`` parameter gets the levels from its own on, joined by
        ``/`` (``""`` when the topic ends just before it: ``a/#`` matches ``a``)."""
        if not matches(self._match_filter, topic):
            return None
        return self._parameters(topic.split("/"))

    def _parameters(self, levels: list[str]) -> dict[str, str]:
        found = {name: levels[index] for index, name in self._singles}
        if self._rest is not None:
            index, name = self._rest
            found[name] = "/".join(levels[index:])
        return found

    def __repr__(self) -> str:
        name = getattr(self.handler, "__qualname__", repr(self.handler))
        return f"<Route {self.pattern!r} -> {name} (qos={self.options.qos})>"


_Matched: TypeAlias = list[tuple[Route, dict[str, str]]]  # the routes of a message


def _parse(pattern: object) -> tuple[str, tuple[tuple[int, str], ...], tuple[int, str] | None]:
    """The filter of ``pattern``, its ``{name}`` parameters and its ``{name:path}`` one."""
    if not isinstance(pattern, str):
        raise TypeError(f"a route pattern must be a str, got {show(pattern)}")

    def fail(rule: str) -> ValueError:
        return ValueError(f"route pattern {pattern!r}: {rule}")

    prefix, inner = "", pattern
    if pattern.startswith(_SHARE_PREFIX):
        parts = pattern.split("/", 2)
        if len(parts) == 3:  # (else the filter's own check says what is missing)
            if "{" in parts[1] or "}" in parts[1]:
                raise fail(f"the share name {parts[1]!r} cannot be a parameter")
            prefix, inner = f"{parts[0]}/{parts[1]}/", parts[2]
    levels = inner.split("/")
    singles: list[tuple[int, str]] = []
    rest: tuple[int, str] | None = None
    seen: set[str] = set()
    for index, level in enumerate(levels):
        if "{" not in level and "}" not in level:
            continue
        found = _PARAMETER.fullmatch(level)
        if found is None:
            raise fail(
                f"a parameter must be a whole level, '{{name}}' or '{{name:path}}': "
                f"level {level!r} has other text or braces"
            )
        name, kind = found.group(1), found.group(2)
        if not name.isidentifier() or keyword.iskeyword(name):
            raise fail(f"parameter name {name!r} is not a Python identifier")
        if name in seen:
            raise fail(f"parameter {name!r} appears twice")
        seen.add(name)
        if kind is None:
            singles.append((index, name))
            levels[index] = "+"
        elif kind == "path":
            if index != len(levels) - 1:
                raise fail(f"'{{{name}:path}}' takes the rest of the topic: it must be last")
            rest = (index, name)
            levels[index] = "#"
        else:
            raise fail(
                f"unknown parameter type {kind!r} in {level!r}: '{{name}}' is one level, "
                "'{name:path}' the rest of the topic"
            )
    topic_filter = prefix + "/".join(levels)
    try:
        validate_topic_filter(topic_filter)
    except ValueError as error:
        raise fail(str(error)) from None
    return topic_filter, tuple(singles), rest


def _check_handler(handler: object, pattern: str, names: tuple[str, ...]) -> None:
    """Raise ``TypeError`` unless ``handler`` is async and takes ``(message, **names)``."""
    if not callable(handler):
        raise TypeError(
            f"route {pattern!r}: the handler must be an async function, got {handler!r}"
        )
    call = getattr(handler, "__call__", None)  # noqa: B004 - objects with an async __call__
    if not (inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)):
        raise TypeError(
            f"route {pattern!r}: the handler {_name(handler)} must be an async function "
            "(async def): it is awaited for each message"
        )
    signature = inspect.signature(handler)
    try:
        signature.bind(None, **dict.fromkeys(names, ""))
    except TypeError as error:
        call_text = ", ".join(["message", *(f"{name}=..." for name in names)])
        raise TypeError(
            f"route {pattern!r}: the handler {_name(handler)}{signature} cannot be called as "
            f"handler({call_text}): {error}"
        ) from None


def _name(handler: object) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


class _Subscription:
    """One filter ``run`` subscribes to, standing for the routes' filters it covers."""

    __slots__ = ("levels", "options", "share", "topic_filter")

    def __init__(self, topic_filter: str, options: SubscribeOptions) -> None:
        self.topic_filter = topic_filter
        self.options = options
        share, inner = parse_shared_subscription(topic_filter)
        self.share = share
        self.levels = inner.split("/")

    def mergeable(self, other: _Subscription) -> bool:
        """Whether one of the two may stand for both: same group, same options but QoS."""
        mine, theirs = self.options, other.options
        return (
            self.share == other.share
            and mine.no_local == theirs.no_local
            and mine.retain_as_published == theirs.retain_as_published
            and mine.retain_handling == theirs.retain_handling
        )

    def take_qos(self, other: _Subscription) -> None:
        if other.options.qos > self.options.qos:
            mine = self.options
            self.options = SubscribeOptions(
                other.options.qos, mine.no_local, mine.retain_as_published, mine.retain_handling
            )


def _covers(wide: Sequence[str], narrow: Sequence[str]) -> bool:
    """Whether every topic the filter levels ``narrow`` match, ``wide`` matches too."""
    for index, level in enumerate(wide):
        dollar = index == 0 and index < len(narrow) and narrow[0].startswith("$")
        if level == "#":
            return not dollar  # (a first-level wildcard matches no '$' topic)
        if index >= len(narrow):
            return False
        if narrow[index] == "#":
            # Only '+/#' matches all that a first-level '#' does (every topic has a level).
            return index == 0 and list(wide) == ["+", "#"]
        if level == "+":
            if dollar:
                return False
        elif level != narrow[index]:
            return False
    return len(wide) == len(narrow)


def _overlap(first: Sequence[str], second: Sequence[str]) -> bool:
    """Whether some topic is matched by both filters (given as levels)."""
    for index in range(max(len(first), len(second))):
        mine = first[index] if index < len(first) else None
        theirs = second[index] if index < len(second) else None
        if mine == "#" or theirs == "#":
            other = theirs if mine == "#" else mine
            return not (index == 0 and other is not None and other.startswith("$"))
        if mine is None or theirs is None:
            return False
        if mine == "+" or theirs == "+":
            other = theirs if mine == "+" else mine
            if index == 0 and other.startswith("$"):
                return False
        elif mine != theirs:
            return False
    return True


class Router:
    """Sends each received message to the handlers of the routes its topic matches.

    ::

        router = asyncmqtt.Router()

        @router.route("sensors/{room}/temperature", qos=1)
        async def temperature(message: asyncmqtt.Message, room: str) -> None:
            print(room, float(message.payload))

        async with asyncmqtt.Client("broker") as client:
            await router.run(client)   # until cancelled

    ``max_concurrency`` (default 100): the most messages handled at once; messages on one topic
    are always handled one after another. ``max_pending`` (default None: ten times
    ``max_concurrency``; at least ``max_concurrency``): the most messages the router holds,
    being handled or waiting (for the message before them on their topic, or for a place);
    when full, it takes no more from the stream until one is done. ``on_error``: called as
    ``on_error(message, error)`` (awaited if async) when a handler raises; default: log at
    ERROR; raise from it to stop the router. ``logger``: where the router logs (default
    ``logging.getLogger("asyncmqtt")``). Raises ``TypeError`` / ``ValueError`` for bad
    arguments. See the guide Routing messages to handlers.
    """

    def __init__(
        self,
        *,
        max_concurrency: int = 100,
        max_pending: int | None = None,
        on_error: ErrorHandler | None = None,
        logger: Logger | None = None,
    ) -> None:
        self.max_concurrency: int = check_int("max_concurrency", max_concurrency, 1, 2**31 - 1)
        """The most messages handled at once (see the class)."""
        self.max_pending: int = (
            10 * self.max_concurrency
            if max_pending is None
            else check_int("max_pending", max_pending, self.max_concurrency, 2**31 - 1)
        )
        """The most messages the router holds at once (see the class)."""
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be a callable or None, got {show(on_error)}")
        self._on_error = on_error
        self._logger = check_logger(logger)
        self._routes: list[Route] = []
        self._trie: FilterTrie[Route] = FilterTrie()
        self._matches: dict[str, _Matched] = {}  # topic -> its routes (see _matched)
        self._running = 0  # how many serve() calls run now
        self.messages_handled: int = 0
        """Messages whose handlers have all finished (failed ones included)."""
        self.messages_unmatched: int = 0
        """Messages that matched no route (see ``serve``)."""
        self.handler_failures: int = 0
        """Handler calls that raised."""
        self._unmatched_since_warning = 0
        self._unmatched_warned = -math.inf  # loop time of the last warning

    # ------------------------------------------------------------------ routes

    def route(
        self, pattern: str, qos: int = 0, *, options: SubscribeOptions | None = None
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator: ``@router.route("sensors/{room}/temperature", qos=1)`` adds a route with
        the decorated async function as its handler, and returns the function unchanged.

        ``pattern``: a topic filter whose levels may be ``{name}`` (one level, passed as the
        keyword argument ``name``) or, last, ``{name:path}`` (the rest of the topic); ``+``,
        ``#`` and ``$share/{group}/`` as in any filter. ``qos`` (0, 1, 2) or ``options``
        (``SubscribeOptions``, for the MQTT 5 options): the subscription ``run`` makes. The
        handler is awaited as ``handler(message, **parameters)``.

        Raises ``ValueError`` for an invalid pattern (a parameter not a whole level, a name
        that is not an identifier or appears twice, ``{name:path}`` not last, an invalid
        filter) or when another route subscribes to the same filter with other MQTT 5
        options, ``TypeError`` for a handler that is not async or whose signature does not
        take the parameters; ``RuntimeError`` while the router runs.
        """

        def decorate(handler: HandlerT) -> HandlerT:
            self.add_route(pattern, handler, qos, options=options)
            return handler

        return decorate

    def add_route(
        self,
        pattern: str,
        handler: Handler,
        qos: int = 0,
        *,
        options: SubscribeOptions | None = None,
    ) -> Route:
        """Add a route without the decorator: ``router.add_route("a/{x}", handle_a, 1)``.

        The same arguments and errors as ``route``; returns the new ``Route``.
        """
        if self._running:
            raise RuntimeError(
                f"cannot add the route {pattern!r} while the router runs: add every route "
                "before run() or serve()"
            )
        try:
            chosen = subscriptions_from("#", qos, options)[0]
        except (TypeError, ValueError) as error:
            raise type(error)(f"route {pattern!r}: {error}") from None
        route_options = SubscribeOptions(
            chosen.qos, chosen.no_local, chosen.retain_as_published, chosen.retain_handling
        )
        route = Route(pattern, handler, route_options, len(self._routes))
        _check_handler(handler, pattern, route.parameter_names)
        for other in self._routes:
            if other.topic_filter == route.topic_filter and not _Subscription(
                other.topic_filter, other.options
            ).mergeable(_Subscription(route.topic_filter, route_options)):
                raise ValueError(
                    f"route {pattern!r} subscribes to {route.topic_filter!r} as route "
                    f"{other.pattern!r} does, but with other options ({route_options} against "
                    f"{other.options}): one filter is one subscription, with one set of options"
                )
        self._routes.append(route)
        self._trie.add(route.topic_filter, route)
        self._matches.clear()
        return route

    @property
    def routes(self) -> tuple[Route, ...]:
        """The routes, in the order they were added."""
        return tuple(self._routes)

    @property
    def subscriptions(self) -> list[tuple[str, SubscribeOptions]]:
        """The ``(filter, options)`` pairs ``run`` subscribes to, as ``client.subscribe`` and
        ``client.subscription`` take them: one per filter, leaving out a filter that another
        one of the same shared group and options covers (that one gets the higher QoS)."""
        kept: list[_Subscription] = []
        for route in self._routes:
            new = _Subscription(route.topic_filter, route.options)
            for old in kept:
                if old.mergeable(new) and _covers(old.levels, new.levels):
                    old.take_qos(new)
                    break
            else:
                for old in list(kept):
                    if old.mergeable(new) and _covers(new.levels, old.levels):
                        new.take_qos(old)
                        kept.remove(old)
                kept.append(new)
        return [(sub.topic_filter, sub.options) for sub in kept]

    def match(self, topic: str) -> list[tuple[Route, dict[str, str]]]:
        """The routes whose filter matches the topic name ``topic``, in the order they were
        added, each with the parameters taken from the topic."""
        routes = self._trie.match(topic)
        if len(routes) > 1:
            routes.sort(key=_route_order)
        levels = topic.split("/")
        return [(route, route._parameters(levels)) for route in routes]

    def _matched(self, topic: str) -> _Matched:
        """``match`` for dispatching, remembered per topic (a program's topics repeat; the
        routes do not change while it runs). Not to be changed: it is shared."""
        cache = self._matches
        found = cache.get(topic)
        if found is None:
            if len(cache) >= _MATCH_CACHE_LIMIT:
                cache.clear()
            found = cache[topic] = self.match(topic)
        return found

    # ------------------------------------------------------------------ running

    async def run(
        self,
        client: Client,
        *,
        properties: Properties | None = None,
        subscribed: asyncio.Event | None = None,
    ) -> None:
        """Subscribe to every route's filter and handle the messages, until cancelled.

        One SUBSCRIBE for all routes (``subscriptions``), each filter with its own QoS and
        options; ``properties``: its MQTT 5 properties. ``subscribed``: an ``asyncio.Event``
        set once the broker acknowledged it (from then on, what is published reaches the
        routes). The messages come through ``client.subscription(...)``, so the router takes
        only the messages its routes match (see the guide). It runs until cancelled; with
        ``Client(reconnect=...)`` it goes on across reconnects. When the connection ends for
        good (lost without reconnection, or the client's block exits), the messages already
        taken are handled, then it raises the ``MqttError`` of the stream; when ``on_error``
        raises, it raises that. On the way out it unsubscribes the filters that no other
        ``subscription()`` holds.

        Raises ``ValueError`` when the router has no routes, and what ``subscribe`` raises
        (``MqttCodeError`` when the broker refuses a filter, ``MqttError`` when the client is
        not connected).
        """
        subscriptions = self.subscriptions
        if not subscriptions:
            raise ValueError("the router has no routes: add them with @router.route(...) first")
        self._warn_overlaps(subscriptions)
        self._running += 1  # (routes stay as subscribed)
        try:
            async with client.subscription(subscriptions, properties=properties) as messages:
                if subscribed is not None:
                    subscribed.set()
                await self.serve(messages)
        finally:
            self._running -= 1

    async def serve(self, messages: AsyncIterable[Message]) -> None:
        """Handle every message of ``messages`` (``client.messages``, or any stream), until
        it ends, raises, or this is cancelled.

        For programs that subscribe themselves: ``await client.subscribe(router.subscriptions)``
        then ``await router.serve(client.messages)``. A message no route matches is counted
        (``messages_unmatched``), logged, and acknowledged (``manual_ack``). When the stream
        ends, the messages already taken are handled first; when it raises, they are handled,
        then the exception is raised again.
        """
        serving = _Serving(self)
        self._running += 1
        try:
            await serving.serve(messages)
        finally:
            self._running -= 1

    async def handle(self, message: Message) -> int:
        """Handle one message now: call every matching handler with its parameters, wait for
        them all, acknowledge the message (``manual_ack``), and return how many handlers were
        called. For tests, and for programs that read their messages themselves (no order
        or concurrency rules apply here). A handler's exception goes to ``on_error``; what
        ``on_error`` raises is raised here."""
        matched = self._matched(message.topic.value)
        if not matched:
            await self._unmatched(message)
            return 0
        await self._dispatch(message, matched)
        return len(matched)

    async def _dispatch(self, message: Message, matched: _Matched) -> None:
        """Run the handlers of one message (concurrently if several), then acknowledge it."""
        if len(matched) == 1:
            route, parameters = matched[0]
            await self._call(route, message, parameters)
        else:
            calls = [
                asyncio.ensure_future(self._call(route, message, parameters))
                for route, parameters in matched
            ]
            try:
                await asyncio.gather(*calls)
            except BaseException:
                for call in calls:  # (gather leaves the others running)
                    call.cancel()
                raise
        self.messages_handled += 1
        if message.awaiting_ack:
            await message.ack()

    async def _call(self, route: Route, message: Message, parameters: dict[str, str]) -> None:
        try:
            await route.handler(message, **parameters)
        except Exception as error:
            self.handler_failures += 1
            on_error = self._on_error
            if on_error is None:
                self._logger.error(
                    "the handler %s of route %r failed on a message on topic %r: %r",
                    _name(route.handler),
                    route.pattern,
                    message.topic.value,
                    error,
                    exc_info=error,
                )
                return
            outcome = on_error(message, error)
            if outcome is not None:
                await outcome

    async def _unmatched(self, message: Message) -> None:
        """Count and log a message that no route matches (then acknowledge it)."""
        self.messages_unmatched += 1
        self._unmatched_since_warning += 1
        now = asyncio.get_running_loop().time()
        warn = now - self._unmatched_warned >= _UNMATCHED_WARNING_INTERVAL
        self._logger.log(
            logging.WARNING if warn else logging.DEBUG,
            "no route matches the message on topic %r; it is not handled (%d since the last "
            "warning, %d in all: router.messages_unmatched)",
            message.topic.value,
            self._unmatched_since_warning,
            self.messages_unmatched,
        )
        if warn:
            self._unmatched_since_warning = 0
            self._unmatched_warned = now
        if message.awaiting_ack:
            await message.ack()

    def _warn_overlaps(self, subscriptions: list[tuple[str, SubscribeOptions]]) -> None:
        levels = [
            (topic_filter, parse_shared_subscription(topic_filter)[1].split("/"))
            for topic_filter, _ in subscriptions
        ]
        for index, (first, first_levels) in enumerate(levels):
            for second, second_levels in levels[index + 1 :]:
                if _overlap(first_levels, second_levels):
                    self._logger.warning(
                        "the routes' filters %r and %r overlap: a broker may send a message "
                        "matching both once per subscription (mosquitto does with MQTT 5), "
                        "and each copy is handled by every matching route",
                        first,
                        second,
                    )


def _route_order(route: Route) -> int:
    return route._order


class _Serving:
    """The state of one ``serve`` call (see the module docstring).

    A topic with a message being handled has a *lane*: the messages that came after it on
    that topic, in order, and one task (its worker) that handles them one after another and
    ends when the lane is empty. So a busy topic costs a deque append per message, and only
    a message on a topic with nothing in flight makes a task.
    """

    __slots__ = (
        "_error",
        "_lanes",
        "_main",
        "_room",
        "_router",
        "_running",
        "_stopping",
        "_workers",
    )

    def __init__(self, router: Router) -> None:
        self._router = router
        self._room = asyncio.Semaphore(router.max_pending)  # messages held
        self._running = asyncio.Semaphore(router.max_concurrency)  # messages being handled
        self._lanes: dict[str, deque[tuple[Message, _Matched]]] = {}  # topics in flight
        self._workers: set[asyncio.Task[None]] = set()
        self._error: BaseException | None = None  # what on_error raised: serving stops
        self._stopping = False
        main = asyncio.current_task()
        assert main is not None  # (serve() is a coroutine: it runs in a task)
        self._main = main

    async def serve(self, messages: AsyncIterable[Message]) -> None:
        try:
            try:
                await self._read(messages)
            except Exception:
                # The stream raised (the connection ended for good): the messages taken are
                # handled all the same, then the stream's exception goes on.
                await self._finish()
                raise
            await self._finish()
        except asyncio.CancelledError:
            error = self._error
            if error is not None and not self._main.uncancel():
                raise error from None  # (our own cancellation: on_error raised)
            raise
        finally:
            await self._stop_all()

    async def _read(self, messages: AsyncIterable[Message]) -> None:
        router = self._router
        room = self._room
        lanes = self._lanes
        iterator = aiter(messages)
        while True:
            await room.acquire()
            try:
                message = await anext(iterator)
            except StopAsyncIteration:
                room.release()
                return
            except BaseException:
                room.release()
                raise
            topic = message.topic.value
            matched = router._matched(topic)
            if not matched:
                room.release()
                await router._unmatched(message)
                continue
            lane = lanes.get(topic)
            if lane is not None:
                lane.append((message, matched))
                continue
            lanes[topic] = deque()
            worker = asyncio.create_task(self._work(topic, message, matched))
            self._workers.add(worker)
            worker.add_done_callback(self._done)

    async def _work(self, topic: str, message: Message, matched: _Matched) -> None:
        """Handle ``message``, then the messages of its topic's lane, one after another."""
        lane = self._lanes[topic]
        while True:
            try:
                async with self._running:
                    await self._router._dispatch(message, matched)
            finally:
                self._room.release()
            if not lane:
                # (Only here: when serving stops, what is left in lanes is reported.)
                del self._lanes[topic]
                return
            message, matched = lane.popleft()

    def _done(self, worker: asyncio.Task[None]) -> None:
        self._workers.discard(worker)
        if worker.cancelled():
            return
        error = worker.exception()
        if error is None:
            return
        if self._stopping or self._error is not None:
            self._router._logger.error(
                "on_error raised while the router was stopping: %r", error, exc_info=error
            )
            return
        self._error = error  # on_error raised: serving stops with it
        self._main.cancel()

    async def _finish(self) -> None:
        """Wait until every message taken is handled."""
        while self._workers:
            await asyncio.wait(set(self._workers))

    async def _stop_all(self) -> None:
        """Cancel the handling still going on (serving was cancelled or stopped), say so, and
        wait until it has ended."""
        self._stopping = True
        workers = set(self._workers)
        # Each worker holds the message it handles; its lane, those waiting behind it.
        unfinished = len(workers) + sum(map(len, self._lanes.values()))
        if not unfinished:
            return
        for worker in workers:
            worker.cancel()
        self._router._logger.warning(
            "the router stopped with %d messages not finished (being handled, or waiting for "
            "the message before them on their topic): their handling was cancelled (with "
            "manual_ack they are not acknowledged: the broker sends them again if it keeps "
            "the session)",
            unfinished,
        )
        await asyncio.wait(workers)
