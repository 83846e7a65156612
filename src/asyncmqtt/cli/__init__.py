"""The ``asyncmqtt`` command: ``sub``, ``pub``, ``req``, ``bench`` and ``broker``.

Run as ``asyncmqtt`` (the console script) or ``python -m asyncmqtt``. It needs nothing beyond
the standard library and asyncmqtt itself (argparse); ``--ws`` and ``--proxy`` need what the
library needs for them, which the ``cli`` extra installs (``asyncmqtt[cli]``), and say so
when it is missing. The guide "The asyncmqtt command" (docs/cli.md) describes every
subcommand.

Theory of operation: ``main`` parses the command line (a usage error exits with status 1),
resolves where to connect and the password (before the event loop starts, so that a prompt
can be interrupted), then runs the subcommand's coroutine under ``_run.run``, which handles
Ctrl-C and turns an exception into one line on stderr and a documented exit status. Each
client subcommand builds ``asyncmqtt.Client``'s keyword arguments from the shared options
(``_connect.py``) and uses the public API only. Modules: ``_parser`` (grammar, exit codes),
``_connect`` (options -> Client arguments), ``_output`` (how messages are shown), ``_run``
(event loop, signals, errors), and one module per subcommand.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .._version import __version__
from . import _bench, _broker, _pub, _req, _sub
from ._connect import broker_from, read_password
from ._parser import ExitCode, Parser, format_examples
from ._run import configure_logging, describe, exit_code, run

__all__ = ("build_parser", "main")

_EXAMPLES = format_examples(
    [
        ("print every message under sensors/", "asyncmqtt sub -h broker.example -t 'sensors/#' -v"),
        (
            "publish one, acknowledged",
            "asyncmqtt pub -h broker.example -t sensors/temp -m 21.5 -q 1",
        ),
        ("ask and wait for the answer (MQTT 5)", "asyncmqtt req -t services/adder -m '[1, 2]'"),
        ("measure a broker", "asyncmqtt bench pub -h broker.example -c 10 -q 1 --duration 10"),
        ("a broker for local development", "asyncmqtt broker --ws-port 8080"),
    ]
)
_EXIT_STATUS = """\
exit status:
  0  success (also after Ctrl-C)
  1  usage error: a bad option or value, an unreadable file, a missing extra
  2  could not connect, or the connection was lost
  3  timed out waiting for the broker (an acknowledgement, a response; sub -W)
  4  refused by the broker: a failure code in CONNACK, SUBACK or PUBACK
"""


def build_parser() -> Parser:
    """The whole command line's parser."""
    parser = Parser(
        prog="asyncmqtt",
        description="MQTT from the command line, with asyncmqtt's own connection code: "
        "publish, subscribe, request/response, benchmark a broker, or run one.",
        epilog=f"examples:\n{_EXAMPLES}\n{_EXIT_STATUS}\n"
        "Run 'asyncmqtt COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"asyncmqtt {__version__}")
    commands = parser.add_subparsers(
        title="commands", dest="command", required=True, metavar="COMMAND"
    )
    _sub.add_parser(commands)
    _pub.add_parser(commands)
    _req.add_parser(commands)
    _bench.add_parser(commands)
    _broker.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, a usage error
        return int(done.code or 0)
    prog = f"asyncmqtt {args.command}"
    if args.command == "broker":
        return run(lambda: _broker.run(args), debug=args.debug, prog=prog)
    configure_logging(debug=args.debug)
    try:
        make_loop_factory = getattr(args, "make_loop_factory", None)
        loop_factory = None if make_loop_factory is None else make_loop_factory(args)
        broker = broker_from(args)
        password = read_password(broker)
    except KeyboardInterrupt:  # (at the password prompt)
        print(file=sys.stderr)
        return ExitCode.OK
    except Exception as error:
        print(f"{prog}: {describe(error)}", file=sys.stderr)
        return exit_code(error)
    command = args.client_command
    return run(
        lambda: command(args, broker, password),
        debug=args.debug,
        prog=prog,
        loop_factory=loop_factory,
    )
