"""``Reauthentication``: ``client.reauthenticate()``, one MQTT 5 AUTH exchange at a time.

MQTT 5 lets a client authenticate again on a live connection (AUTH 0x19, then the broker's
challenges, then AUTH 0x00), one exchange at a time, and has no way to abandon one halfway.
So the exchange, not the call, is what this module keeps: one future, resolved by the core's
``Reauthenticated`` event or by the end of the connection (``Disconnected``: a broker that
refuses disconnects).

* A call waits for an exchange already under way to end, then starts its own: each call gets
  an exchange that began after it was made (a new token, say, is really sent).
* A call that times out, or is cancelled, stops waiting; its exchange runs on, and the next
  call waits for it first. The connection is left alone.
* While the client reconnects, a call waits for the connection, then starts its exchange.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .errors import MqttCodeError, MqttError, MqttTimeoutError
from .protocol.events import Disconnected, Reauthenticated

__all__ = ("Reauthentication",)


class Reauthentication:
    """The client's re-authentications (see the module docstring)."""

    __slots__ = ("_exchange",)

    def __init__(self) -> None:
        # The exchange under way: its future gets the event that ended it.
        self._exchange: asyncio.Future[Reauthenticated | Disconnected] | None = None

    @property
    def under_way(self) -> bool:
        """Whether an exchange was started and has not ended yet."""
        return self._exchange is not None

    async def run(
        self,
        start: Callable[[], bool],
        wait_connected: Callable[[], Awaitable[None]],
        seconds: float | None,
    ) -> None:
        """One exchange within ``seconds``: ``start()`` sends AUTH 0x19 and returns True, or
        False when not connected (``wait_connected()`` then waits for the connection, or
        raises). Raises ``MqttCodeError`` / ``MqttError`` when the exchange failed,
        ``MqttTimeoutError`` when it did not end in time."""
        exchange = None
        try:
            async with asyncio.timeout(seconds):
                while exchange is None:
                    if self._exchange is not None:
                        await asyncio.wait([self._exchange])
                    elif not start():
                        await wait_connected()
                    else:
                        loop = asyncio.get_running_loop()
                        exchange = self._exchange = loop.create_future()
                # (Shielded: a caller that stops waiting does not end the exchange.)
                event = await asyncio.shield(exchange)
        except TimeoutError:
            if exchange is None:
                raise MqttTimeoutError(
                    f"reauthenticate() timed out after {seconds:g} s before it could start "
                    "(waiting for the connection or for an earlier exchange); nothing was sent"
                ) from None
            raise MqttTimeoutError(
                f"reauthenticate() timed out after {seconds:g} s: the broker has not finished "
                "the exchange. MQTT cannot abandon it: it stays under way, and the next "
                "reauthenticate() waits for its end"
            ) from None
        if isinstance(event, Disconnected):
            raise _failure(event)

    def ended(self, event: Reauthenticated | Disconnected) -> bool:
        """The exchange under way (if any) ended with ``event``; True if there was one."""
        exchange, self._exchange = self._exchange, None
        if exchange is None:
            return False
        if not exchange.done():  # (its loop may be gone: the client moved to another loop)
            exchange.set_result(event)
        return True


def _failure(event: Disconnected) -> MqttError:
    """What a caller raises when the connection ended during its exchange."""
    error = event.error
    if isinstance(error, MqttCodeError):  # the broker disconnected: it refused
        said = " ".join(str(part) for part in error.args[1:])
        failure: MqttError = MqttCodeError(
            error.rc,
            f"re-authentication failed: {said}; the connection is closed",
            properties=error.properties,
        )
    elif error is None:
        failure = MqttError("re-authentication did not finish: the client disconnected")
    else:
        failure = MqttError(
            f"re-authentication failed: {error}; the connection is closed"
            if getattr(error, "reason_code", None) == 0x87  # (the authenticator said no)
            else f"re-authentication did not finish: the connection ended ({error})"
        )
    failure.__cause__ = error
    return failure
