"""What ``asyncmqtt bench`` measures with: percentiles, the bounded sample, time stamps,
the progress line and the numbers' formatting."""

from __future__ import annotations

import io
import time

import pytest

from asyncmqtt.cli._measure import (
    STAMP_MAGIC,
    STAMP_SIZE,
    Latencies,
    Meter,
    Progress,
    format_duration,
    format_rate,
    stamp_reader,
    stamp_writer,
)


def test_percentiles_by_nearest_rank() -> None:
    latencies = Latencies()
    for value in range(100, 0, -1):  # 100 ... 1, in no order that matters
        latencies.add(float(value))
    assert latencies.summary() == {
        "count": 100,
        "p50_us": 50.0,
        "p90_us": 90.0,
        "p99_us": 99.0,
        "max_us": 100.0,
    }
    single = Latencies()
    single.add(7.0)
    assert single.summary()["p50_us"] == single.summary()["p99_us"] == 7.0


def test_no_samples() -> None:
    assert Latencies().summary() == {
        "count": 0,
        "p50_us": None,
        "p90_us": None,
        "p99_us": None,
        "max_us": None,
    }


def test_beyond_its_capacity_it_keeps_a_uniform_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Latencies, "capacity", 1000)
    latencies = Latencies(seed=1)
    for value in range(100_000):
        latencies.add(float(value))
    assert len(latencies.samples) == 1000
    assert latencies.count == 100_000
    assert latencies.maximum == 99_999.0  # (exact, whatever the sample)
    falling = Latencies(seed=2)
    for value in range(100_000, 0, -1):  # the largest first: it must not leave the maximum
        falling.add(float(value))
    assert (falling.count, falling.maximum) == (100_000, 100_000.0)
    median = latencies.summary()["p50_us"]
    assert isinstance(median, float)
    assert 40_000 < median < 60_000  # a uniform sample's median: not the first 1000 values


def test_stamped_payloads_carry_their_send_time() -> None:
    make, sent_at = stamp_writer(64), stamp_reader()
    before = time.time_ns()
    payload = make()
    after = time.time_ns()
    assert len(payload) == 64
    assert payload.startswith(STAMP_MAGIC)
    assert payload[STAMP_SIZE:] == bytes(64 - STAMP_SIZE)
    sent = sent_at(payload)
    assert sent is not None
    assert before <= sent <= after


def test_payloads_too_small_or_foreign_have_no_stamp() -> None:
    sent_at = stamp_reader()
    small = stamp_writer(STAMP_SIZE - 1)()
    assert small == bytes(STAMP_SIZE - 1)
    assert sent_at(small) is None
    assert sent_at(b"x" * 64) is None
    assert sent_at(STAMP_MAGIC + b"short") is None
    assert len(stamp_writer(0)()) == 0
    assert sent_at(stamp_writer(STAMP_SIZE)()) is not None


def test_the_meter_gives_the_rate_since_the_last_reading() -> None:
    meter = Meter()
    assert meter.reading(1000, 1.0) == "1,000 (1,000/s)"
    assert meter.reading(4000, 2.0) == "4,000 (3,000/s)"
    assert meter.reading(4000, 2.0) == "4,000 (-)"


def test_formatting() -> None:
    assert format_rate(12345, 1.0) == "12,345/s"
    assert format_rate(5, 0.0) == "-"
    assert format_duration(None) == "-"
    assert format_duration(412.4) == "412 us"
    assert format_duration(1234.0) == "1.23 ms"
    assert format_duration(2_500_000.0) == "2.5 s"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_is_rewritten_in_place_on_a_terminal() -> None:
    terminal = _Terminal()
    progress = Progress(terminal)
    progress.show("one")
    progress.show("two")
    progress.finish()
    assert terminal.getvalue() == "\rone\x1b[K\rtwo\x1b[K\n"


def test_elsewhere_each_report_is_a_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress.show("one")
    progress.show("two")
    progress.finish()
    assert stream.getvalue() == "one\ntwo\n"
