"""Running one subcommand: its event loop, Ctrl-C, and how an error becomes one line on stderr
and an exit status.

Ctrl-C (SIGINT) and SIGTERM cancel the command's task. The cancellation travels up through the
command's ``async with Client(...)``, which leaves the way it always does: DISCONNECT sent,
the connection closed (so the broker does not publish the will). The command then ends with
status 0. (Where the event loop cannot handle signals, on Windows, asyncio.run's own Ctrl-C
handling cancels the task the same way and raises KeyboardInterrupt afterwards, which ``run``
turns into status 0 too.)

Errors: every exception the library raises says what failed; ``describe`` adds what to check
and ``exit_code`` picks the documented status. Only ``--debug`` shows a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, Final

from ..errors import (
    ConnectionLostError,
    MqttCodeError,
    MqttConnectError,
    MqttError,
    MqttTimeoutError,
    PublishWithdrawnError,
)
from ._parser import ExitCode, UsageError

__all__ = ("configure_logging", "describe", "exit_code", "run")

Command = Callable[[], Coroutine[Any, Any, int]]

# What to check when connecting failed at a stage (MqttConnectError.stage).
_HINTS: Final = {
    "resolve": "check the host name (-h, --url)",
    "tcp": "is a broker listening there? check -h / -p / --url",
    "proxy": "check --proxy (its address, user name and password)",
    "tls": "check --cafile, --cert, --key (or --insecure / --no-verify for test certificates)",
    "websocket": "check --ws-path, --ws-header, and that the port serves MQTT over WebSocket",
}
_REFUSAL_HINTS: Final = {
    0x84: "try another -V (protocol version)",
    0x85: "check the client identifier (-i)",
    0x86: "check -u and the password (-P, MQTT_PASSWORD)",
    0x87: "check -u and the password (-P, MQTT_PASSWORD)",
}
_V311_REFUSAL_HINTS: Final = {1: 0x84, 2: 0x85, 4: 0x86, 5: 0x87}
# What the library and the command raise for a reason the message explains.
_EXPECTED: Final = (MqttError, UsageError, ValueError, TypeError, OSError, ImportError)


# The client's warning that a connection ended, which the command reports as its error.
_CONNECTION_LOST: Final = "connection to %s lost: %s"


def _not_reported_again(record: logging.LogRecord) -> bool:
    """Without ``--debug``, leave out the client's warning that the connection was lost: the
    command ends with that error as its one line (with ``--reconnect`` the connection is not
    lost but paused, and the reconnect's warnings do show)."""
    return record.msg != _CONNECTION_LOST


def configure_logging(*, debug: bool, level: int = logging.WARNING) -> None:
    """The library's log on stderr: warnings (``level``), or everything with ``--debug``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    if not debug:
        handler.addFilter(_not_reported_again)
    logger = logging.getLogger("asyncmqtt")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else level)


def run(
    command: Command,
    *,
    debug: bool,
    prog: str,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> int:
    """Run ``command`` (a coroutine function returning the exit status) to its end."""
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(_interruptible(command))
    except KeyboardInterrupt:
        return ExitCode.OK
    except Exception as error:
        if debug:
            traceback.print_exc()
        print(f"{prog}: {describe(error)}", file=sys.stderr, flush=True)
        return exit_code(error)


async def _interruptible(command: Command) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    handled = []
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(number, interrupt)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            continue
        handled.append(number)
    try:
        return await command()
    except asyncio.CancelledError:
        if not interrupted:
            raise
        task.uncancel()
        return ExitCode.OK
    finally:
        for number in handled:
            loop.remove_signal_handler(number)


def exit_code(error: BaseException) -> ExitCode:
    """The documented exit status for ``error``."""
    if isinstance(error, MqttConnectError):
        return ExitCode.CONNECT if error.rc is None else ExitCode.REFUSED
    if isinstance(error, MqttTimeoutError | PublishWithdrawnError | TimeoutError):
        return ExitCode.TIMEOUT
    if isinstance(error, MqttCodeError):
        return ExitCode.REFUSED
    if isinstance(error, MqttError):
        return ExitCode.CONNECT
    # A usage error (UsageError, or the library's ValueError / TypeError for a bad value), a
    # file that cannot be read, a missing extra; and anything unexpected.
    return ExitCode.USAGE


def describe(error: BaseException) -> str:
    """``error`` as one line: the library's message, and what to check."""
    text = " ".join(str(error).split()) or type(error).__name__
    hint = None
    if isinstance(error, MqttConnectError):
        if error.rc is None:
            hint = _HINTS.get(error.stage)
        else:
            code = int(error.rc)  # type: ignore[arg-type]  # (one code in CONNACK)
            if error.stage == "connack" and code < 0x80:  # MQTT 3.1.x return codes
                code = _V311_REFUSAL_HINTS.get(code, code)
            hint = _REFUSAL_HINTS.get(code)
    elif isinstance(error, ConnectionLostError):
        hint = "the broker or the network ended the connection"
    elif isinstance(error, OSError) and error.filename is not None:
        text = f"{error.strerror or text}: {error.filename}"
    elif not isinstance(error, _EXPECTED):
        hint = "an unexpected error: --debug shows where"
        text = f"{type(error).__name__}: {text}"
    if hint is not None and hint not in text:
        text = f"{text} ({hint})"
    return text
