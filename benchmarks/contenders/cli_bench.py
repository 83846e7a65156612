"""``asyncmqtt bench pub`` as a benchmark contender: the command users run to measure their
broker, measured in the same run as the library, on the same scenario (see common.py for the
command line; only ``--scenario throughput``).

It runs ``python -m asyncmqtt bench pub --subscribers 1 --count N --json`` against the broker
(one publisher and one subscriber in the command's process, 64-byte payloads, QoS 0 through
``publish``, QoS 1 / 2 with ``--inflight`` = ``--window`` publishes out, 20 by default) and
turns the command's JSON into this contender's line: ``rate`` is the command's throughput
(messages delivered per second from the first publish to the last message received, as the
throughput scenario times it), ``client_cpu`` its own CPU over that time, ``broker_cpu`` the
broker's CPU over the command's run divided by the same time (the broker is idle while the
command starts and connects). Its counterparts in run.py: ``asyncmqtt seq`` at QoS 0 (awaits
each publish, as the command does) and ``asyncmqtt window`` at QoS 1 (the same window of
``publish_nowait`` futures).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import common


def run(options: common.Options) -> dict[str, Any]:
    if options.scenario != "throughput":
        raise ValueError(
            f"asyncmqtt bench runs the throughput scenario only, not {options.scenario}"
        )
    if options.store != "memory" or options.protocol != 5:
        raise ValueError("asyncmqtt bench runs with the default session store, MQTT 5.0")
    command = [
        sys.executable, "-m", "asyncmqtt", "bench", "pub",
        "-h", options.host, "-p", str(options.port),
        "-t", options.topic, "-q", str(options.qos), "-s", str(common.PAYLOAD_SIZE),
        "--count", str(options.n), "--subscribers", "1", "--inflight", str(options.window),
        "--timeout", str(options.timeout), "--no-progress", "--json",
    ]  # fmt: skip
    if options.loop == "uvloop":
        command.append("--uvloop")
    broker_before = common.broker_cpu_seconds(options.broker_pid)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=options.timeout + 60, check=False
    )
    broker_after = common.broker_cpu_seconds(options.broker_pid)
    if done.returncode != 0:
        raise RuntimeError(f"asyncmqtt bench exited with {done.returncode}: {done.stderr.strip()}")
    record = json.loads(done.stdout)
    if record["errors"] or record["lost"]:
        raise RuntimeError(f"asyncmqtt bench: {record['errors']} errors, {record['lost']} lost")
    seconds = record["receive_seconds"]
    broker = None
    if broker_before is not None and broker_after is not None:
        broker = (broker_after - broker_before) / seconds
    return {
        "received": record["received"],
        "seconds": seconds,
        "rate": record["throughput"],
        "client_cpu": record["cpu_seconds"] / record["wall_seconds"],
        "broker_cpu": broker,
        "latency_p50_us": record["latency"]["p50_us"],
        "latency_p99_us": record["latency"]["p99_us"],
    }


if __name__ == "__main__":
    common.main("asyncmqtt bench (command)", run, asyncmqtt_options=True)
