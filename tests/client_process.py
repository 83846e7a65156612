"""Run a Python script as a separate client process that a test can SIGKILL mid-run.

Theory of operation
-------------------
``ClientProcess(script, *args)`` starts ``sys.executable -u`` (the interpreter running the
tests, so the project's virtualenv) on ``script``: a ``Path`` is a file to run, a ``str`` is the
source text itself (run with ``-c``). ``src/`` is put first on ``PYTHONPATH``, so the script
imports this checkout's ``asyncmqtt``; ``env`` adds or overrides variables of the test's own
environment. ``-u`` makes the child's stdout unbuffered: every line it prints reaches the test
at once.

Two daemon threads read the child's stdout and stderr as they come. Every stdout line (without
its line ending) is appended to ``lines``; ``readline()`` returns the next line not yet read
(None once the child closed its stdout) and ``wait_for_line(match)`` skips lines until one
matches: a script prints its progress ("published 57") and the test waits for it, then kills
the child at a known point. Both wait with a deadline and raise AssertionError with the output
so far when it passes. ``await readline_async()`` / ``await wait_for_line_async()`` do the same
without blocking the test's event loop (they run the wait in a worker thread).

``kill()`` sends SIGKILL to the child's process id (``os.kill``, never a name or a group), so
the child gets no chance to clean up: its sockets are closed by the kernel, with FIN, which a
broker sees as a network failure (it publishes the will). ``wait()`` reaps it and returns the
exit status (``-9`` after ``kill()``). The sync and async context managers always kill and reap
the child on the way out, even when the test failed.

No pytest here, like ``broker.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ("SRC_DIR", "ClientProcess")

SRC_DIR = Path(__file__).resolve().parent.parent / "src"
_LINE_TIMEOUT = 10.0  # default seconds to wait for a line
_REAP_TIMEOUT = 10.0  # seconds to wait for a killed child to be reaped
_REPORT_LINES = 20  # lines of output quoted in a timeout message

LineMatch = str | re.Pattern[str] | Callable[[str], bool]


class ClientProcess:
    """A Python child process whose stdout lines the test reads as they arrive.

    Arguments:
        script: a ``Path`` to run, or the source text of a script (a ``str``).
        args: the script's ``sys.argv[1:]``.
        env: variables added to (or replacing in) the test's environment for the child.
    """

    def __init__(
        self, script: str | Path, *args: str, env: Mapping[str, str] | None = None
    ) -> None:
        if isinstance(script, Path):
            command = [sys.executable, "-u", str(script)]
        elif isinstance(script, str):
            command = [sys.executable, "-u", "-c", script]
        else:
            raise TypeError(f"script must be a str (source) or a Path, got {script!r}")
        if not all(isinstance(arg, str) for arg in args):
            raise TypeError(f"args must be str, got {args!r}")
        command += args
        environment = dict(os.environ)
        if env is not None:
            if not isinstance(env, Mapping) or not all(
                isinstance(key, str) and isinstance(value, str) for key, value in env.items()
            ):
                raise TypeError(f"env must map str to str, got {env!r}")
            environment.update(env)
        paths = [str(SRC_DIR), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
        environment["PYTHONUNBUFFERED"] = "1"

        self.lines: list[str] = []  # every stdout line so far, without line endings
        self._read = 0  # lines handed out by readline()
        self._stderr: list[str] = []
        self._stdout_closed = False
        self._changed = threading.Condition()
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self._process.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self._process.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    # -- state ------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has ended (and was reaped), else None."""
        return self._process.poll()

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    @property
    def stdout(self) -> str:
        """Everything the child printed to stdout so far."""
        with self._changed:
            return "".join(line + "\n" for line in self.lines)

    @property
    def stderr(self) -> str:
        """Everything the child wrote to stderr so far (a traceback, say)."""
        with self._changed:
            return "".join(self._stderr)

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self._process.returncode}"
        return f"<ClientProcess pid={self.pid} {state}, {len(self.lines)} lines>"

    # -- reading ----------------------------------------------------------------------------

    def readline(self, timeout: float = _LINE_TIMEOUT) -> str | None:
        """The next stdout line not read yet; None once stdout is closed and all was read."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._read >= len(self.lines):
                if self._stdout_closed:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(self._timeout_report(f"no line within {timeout} s"))
                self._changed.wait(left)
            line = self.lines[self._read]
            self._read += 1
            return line

    def wait_for_line(self, match: LineMatch, timeout: float = _LINE_TIMEOUT) -> str:
        """Read lines until one matches and return it.

        ``match`` is a prefix (``str``), a compiled regular expression (searched in the line)
        or a predicate. Lines skipped on the way stay in ``lines``.
        """
        accepts = _matcher(match)
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.readline(max(0.0, deadline - time.monotonic()))
            except AssertionError:
                raise AssertionError(
                    self._timeout_report(f"no line matching {match!r} within {timeout} s")
                ) from None
            if line is None:
                raise AssertionError(
                    self._timeout_report(f"stdout closed before a line matching {match!r}")
                )
            if accepts(line):
                return line

    async def readline_async(self, timeout: float = _LINE_TIMEOUT) -> str | None:
        """``readline`` without blocking the event loop."""
        return await asyncio.to_thread(self.readline, timeout)

    async def wait_for_line_async(self, match: LineMatch, timeout: float = _LINE_TIMEOUT) -> str:
        """``wait_for_line`` without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for_line, match, timeout)

    # -- ending -----------------------------------------------------------------------------

    def kill(self) -> None:
        """Send SIGKILL to the child's process id, unless it has already been reaped."""
        if self._process.returncode is None:
            # Popen.send_signal checks that the child is not reaped yet, so the pid cannot
            # belong to another process.
            self._process.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = _REAP_TIMEOUT) -> int:
        """Wait for the child to end, reap it, and return its exit status (-9 if killed)."""
        status = self._process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)  # the pipes reach EOF once the child is gone
        return status

    async def wait_async(self, timeout: float | None = _REAP_TIMEOUT) -> int:
        """``wait`` without blocking the event loop."""
        return await asyncio.to_thread(self.wait, timeout)

    def close(self) -> None:
        """Kill the child if it still runs, reap it, close the pipes."""
        self.kill()
        self.wait()
        for pipe in (self._process.stdout, self._process.stderr):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill()  # at once: the child must not run on while we wait for a thread
        await asyncio.to_thread(self.close)

    # -- internals --------------------------------------------------------------------------

    def _pump(self, pipe: IO[bytes], is_stdout: bool) -> None:
        for raw in pipe:
            text = raw.decode(errors="replace")
            with self._changed:
                if is_stdout:
                    self.lines.append(text.rstrip("\r\n"))
                else:
                    self._stderr.append(text)
                self._changed.notify_all()
        if is_stdout:
            with self._changed:
                self._stdout_closed = True
                self._changed.notify_all()

    def _timeout_report(self, summary: str) -> str:
        with self._changed:
            tail = self.lines[-_REPORT_LINES:]
            stderr = "".join(self._stderr)[-4000:]
        state = "running" if self.running else f"exited with status {self._process.returncode}"
        return (
            f"{summary} (client process {self.pid}, {state})\n"
            "--- last stdout lines ---\n" + "\n".join(tail) + f"\n--- stderr ---\n{stderr}"
        )


def _matcher(match: LineMatch) -> Callable[[str], bool]:
    if isinstance(match, str):
        return lambda line: line.startswith(match)
    if isinstance(match, re.Pattern):
        return lambda line: match.search(line) is not None
    if callable(match):
        return match
    raise TypeError(f"match must be a str prefix, a compiled pattern or a predicate: {match!r}")
