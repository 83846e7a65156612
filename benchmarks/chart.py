"""Draw benchmarks/results/results.png from results.json (run by run.py; needs matplotlib).

Run: benchmarks/.venv/bin/python benchmarks/chart.py RESULTS.json OUT.png

Four panels: throughput per QoS (log scale, since the contenders differ by 30x), latency
p50/p99, resident memory per idle client (for each many-clients size), memory per queued
message. Bars are medians over the rounds; the error bars span the min-max of the rounds.
When the results hold issue 11's scenarios, a third column adds QoS 1 throughput with a window
of 20 (``publish_nowait``, the raw reference, concurrent tasks, SQLiteStore) and the reconnect
time after a broker restart (median and max over every restart, with the 0.5 s target).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

Runs = list[dict[str, Any]]


def spread(runs: Runs, case: str, metric: str) -> dict[str, tuple[float, float, float]]:
    """label -> (median, min, max) of ``metric`` over the successful runs of ``case``."""
    values: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        if run["case"] == case and "error" not in run and run.get(metric) is not None:
            values[run["label"]].append(float(run[metric]))
    return {label: (statistics.median(vs), min(vs), max(vs)) for label, vs in values.items() if vs}


def grouped_bars(
    axes: Axes,
    groups: list[str],
    series: dict[str, dict[str, tuple[float, float, float]]],
    scale: float = 1.0,
) -> None:
    """One group of bars per entry of ``groups``, one bar per label, with min-max whiskers."""
    labels = sorted({label for by_label in series.values() for label in by_label}, key=_order)
    width = 0.8 / max(1, len(labels))
    for index, label in enumerate(labels):
        xs, heights, lows, highs = [], [], [], []
        for position, group in enumerate(groups):
            stat = series.get(group, {}).get(label)
            if stat is None:
                continue
            median, low, high = (value * scale for value in stat)
            xs.append(position + (index - (len(labels) - 1) / 2) * width)
            heights.append(median)
            lows.append(median - low)
            highs.append(high - median)
        axes.bar(xs, heights, width, yerr=[lows, highs], capsize=2, label=label)
    axes.set_xticks(range(len(groups)), groups)


def single_bars(axes: Axes, stats: dict[str, tuple[float, float, float]]) -> None:
    """One horizontal bar per label, with min-max whiskers."""
    labels = sorted(stats, key=_order)
    medians = [stats[label][0] for label in labels]
    errors = [
        [stats[label][0] - stats[label][1] for label in labels],
        [stats[label][2] - stats[label][0] for label in labels],
    ]
    axes.barh(labels, medians, xerr=errors, capsize=2)
    axes.invert_yaxis()
    for y, value in enumerate(medians):
        axes.annotate(f" {value:,.0f}", (value, y), va="center", fontsize=7)


def _order(label: str) -> tuple[int, str]:
    """asyncmqtt first, then the raw reference, then the peers."""
    rank = 0 if label.startswith("asyncmqtt") else 1 if label.startswith("raw") else 2
    return (rank, label)


def draw(data: dict[str, Any], image: Path) -> None:
    runs: Runs = data["runs"]
    cases = {run["case"] for run in runs}
    issue11 = any(c.startswith(("window", "store", "reconnect")) for c in cases)
    figure, axes = plt.subplots(2, 3 if issue11 else 2, figsize=(22 if issue11 else 15, 10))
    (top_left, top_right, *top_more), (bottom_left, bottom_right, *bottom_more) = axes
    if issue11:
        window_panel(top_more[0], runs)
        reconnect_panel(bottom_more[0], runs)
    throughput = sorted(c for c in cases if c.startswith("throughput"))
    grouped_bars(
        top_left,
        [c.removeprefix("throughput ") for c in throughput],
        {c.removeprefix("throughput "): spread(runs, c, "rate") for c in throughput},
    )
    top_left.set_yscale("log")
    top_left.set_ylabel("messages / s (log scale)")
    top_left.set_title("End-to-end throughput (higher is better)")
    top_left.legend(fontsize=7)

    latency = sorted(c for c in cases if c.startswith("latency"))
    groups = {}
    for case in latency:
        qos = case.removeprefix("latency ")
        groups[f"{qos} p50"] = spread(runs, case, "p50_us")
        groups[f"{qos} p99"] = spread(runs, case, "p99_us")
    grouped_bars(top_right, list(groups), groups)
    top_right.set_ylabel("µs")
    top_right.set_title("Latency at a fixed rate (lower is better)")
    top_right.legend(fontsize=7)

    # In the order they ran (the plan's order, as in the results table).
    many = list(dict.fromkeys(run["case"] for run in runs if run["case"].startswith("many")))
    grouped_bars(
        bottom_left,
        [c.removeprefix("many ") for c in many],
        {c.removeprefix("many "): spread(runs, c, "rss_per_idle_client") for c in many},
        scale=1 / 1024,
    )
    bottom_left.set_ylabel("KiB of resident memory per idle connected client")
    bottom_left.set_title("Memory per client (lower is better)")
    bottom_left.legend(fontsize=7)

    single_bars(bottom_right, spread(runs, "queued", "rss_per_queued_message"))
    bottom_right.set_xlabel("bytes of resident memory per queued 64-byte message")
    bottom_right.set_title("Memory per queued message (lower is better)")

    machine = data["meta"]["machine"]
    figure.suptitle(
        f"asyncmqtt benchmark, {machine['date']}, {machine['cpu']}, {machine['mosquitto']}"
    )
    figure.tight_layout()
    figure.savefig(image, dpi=90)


def window_panel(axes: Axes, runs: Runs) -> None:
    """QoS 1 with a window of 20: every contender of the window and store cases."""
    stats = {}
    for case, prefix in (("window QoS 1", ""), ("store QoS 1", "store: ")):
        for label, stat in spread(runs, case, "rate").items():
            shown = (
                "asyncmqtt window MemoryStore" if prefix and label == "asyncmqtt window" else label
            )
            stats[prefix + shown] = stat
    if not stats:
        axes.set_axis_off()
        return
    labels = list(stats)  # the order they ran in, store rows last
    medians = [stats[label][0] for label in labels]
    errors = [
        [stats[label][0] - stats[label][1] for label in labels],
        [stats[label][2] - stats[label][0] for label in labels],
    ]
    axes.barh(labels, medians, xerr=errors, capsize=2)
    axes.invert_yaxis()
    for y, value in enumerate(medians):
        axes.annotate(f" {value:,.0f}", (value, y), va="center", fontsize=7)
    axes.set_xlabel("messages / s")
    axes.set_title("QoS 1, window of 20 (higher is better)")


def reconnect_panel(axes: Axes, runs: Runs) -> None:
    """Median and max time from the broker back to the first message, per contender."""
    samples: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        if run["case"] == "reconnect" and "error" not in run:
            samples[run["label"]] += [s["first_message_s"] * 1000 for s in run["samples"]]
    if not samples:
        axes.set_axis_off()
        return
    labels = list(samples)
    positions = range(len(labels))
    medians = [statistics.median(samples[label]) for label in labels]
    highs = [max(samples[label]) for label in labels]
    axes.bar([x - 0.2 for x in positions], medians, 0.4, label="median")
    axes.bar([x + 0.2 for x in positions], highs, 0.4, label="max")
    axes.axhline(500, color="grey", linestyle="--", linewidth=1, label="target 500 ms")
    axes.set_xticks(list(positions), [label.removeprefix("asyncmqtt ") for label in labels])
    axes.set_ylabel("ms from the broker accepting again to the first message")
    axes.set_title("Reconnect after a broker restart (lower is better)")
    axes.legend(fontsize=7)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: chart.py RESULTS.json OUT.png", file=sys.stderr)
        return 2
    draw(json.loads(Path(argv[0]).read_text()), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
