"""Session stores: MemoryStore, and SQLiteStore's fidelity, compaction, order, locking and refusals.

The central property: after any sequence of operations driven through a real
``ClientConnection`` (on a scripted broker), ``Session.restore(store.load())`` equals the live
session, also after the store file is closed and opened again by a new ``SQLiteStore``, as a
restarted process would.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncmqtt.errors import MqttError
from asyncmqtt.protocol.config import ClientConfig, SessionLostPolicy
from asyncmqtt.protocol.connection import ClientConnection, ConnectionState
from asyncmqtt.protocol.enums import PacketType, ProtocolVersion, RetainHandling
from asyncmqtt.protocol.packets import (
    ConnAck,
    Connect,
    Packet,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscription,
    UnsubAck,
)
from asyncmqtt.protocol.properties import NO_PROPERTIES, Properties
from asyncmqtt.protocol.session import (
    InboundQoS2Received,
    InboundQoS2Released,
    PublishAccepted,
    PublishEnded,
    PublishReleased,
    PublishSent,
    PublishUnsent,
    Session,
    SessionRecord,
    SessionStarted,
    Stage,
    SubscriptionAdded,
)
from asyncmqtt.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    MemoryStore,
    SessionStore,
    SQLiteStore,
    StoreError,
    StoreInUseError,
)

# The protocol tests' helpers: a scripted broker on bytes, and strategies for packets.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "protocol"))
from fake_broker import FakeBroker
from strategies import properties_for, publishes, subscriptions

V5 = ProtocolVersion.V5


def db_of(store: SQLiteStore) -> sqlite3.Connection:
    """The store's own connection (the file is locked against any other)."""
    db = store._db
    assert db is not None
    return db


def comparable(session: Session) -> tuple[list[SessionRecord], list[int]]:
    """A session's snapshot, with the inbound ids sorted (a set's order is no part of it)."""
    records = session.snapshot()
    inbound = sorted(r.packet_id for r in records if isinstance(r, InboundQoS2Received))
    return [r for r in records if not isinstance(r, InboundQoS2Received)], inbound


def restored(store: SQLiteStore) -> tuple[list[SessionRecord], list[int]]:
    return comparable(Session.restore(store.load()))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "session.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(path) as store:
        yield store


# ---------------------------------------------------------------------- MemoryStore


def test_memory_store_keeps_nothing() -> None:
    store = MemoryStore()
    assert isinstance(store, SessionStore)
    assert store.durable is False
    store.apply([SessionStarted("c"), PublishAccepted(1, Publish("t", b"x", 1))])
    assert store.load() == []
    with store as same:
        assert same is store
    store.close()
    store.close()
    assert store.load() == []


# ---------------------------------------------------------------------- a new store


def test_new_store_creates_the_file_with_the_schema(path: Path) -> None:
    assert not path.exists()
    with SQLiteStore(path) as store:
        assert isinstance(store, SessionStore)
        assert store.durable is True
        assert store.load() == []
        db = db_of(store)
        assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA locking_mode").fetchone() == ("exclusive",)
        assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
        assert db.execute("PRAGMA page_size").fetchone() == (1024,)  # (cheaper commits)
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_schema")}
        assert {"meta", "outgoing", "inbound_qos2", "subscriptions"} <= tables
        assert db.execute("SELECT schema_version, client_id, started FROM meta").fetchall() == [
            (SCHEMA_VERSION, "", 0)
        ]
        # EXCLUSIVE locking before the first WAL access: the WAL index is in memory, no -shm.
        assert not Path(f"{path}-shm").exists()
    assert path.is_file()
    with SQLiteStore(path) as store:  # opened again: a store, still empty
        assert store.load() == []


def test_an_empty_existing_file_becomes_a_store(path: Path) -> None:
    path.touch()
    with SQLiteStore(path) as store:
        store.apply([SessionStarted("c")])
    with SQLiteStore(path) as store:
        assert store.load() == [SessionStarted("c")]


def test_a_store_made_with_larger_pages_keeps_them(path: Path) -> None:
    # A store made before 1 KiB pages (SQLite's default of 4 KiB) opens as it is.
    with SQLiteStore(path) as store:
        store.apply([SessionStarted("c")])
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = DELETE")  # (the page size of a WAL file cannot change)
    db.execute("PRAGMA page_size = 4096")
    db.execute("VACUUM")
    db.close()
    with SQLiteStore(path) as store:
        assert db_of(store).execute("PRAGMA page_size").fetchone() == (4096,)
        assert store.load() == [SessionStarted("c")]
        store.apply([SessionStarted("d")])
    with SQLiteStore(path) as store:
        assert store.load() == [SessionStarted("d")]


def test_synchronous_full(path: Path) -> None:
    with SQLiteStore(path, synchronous="full") as store:
        assert db_of(store).execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert store.synchronous == "full"


def test_bad_arguments(path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be 'normal' or 'full'"):
        SQLiteStore(path, synchronous="off")  # type: ignore[arg-type]
    for name in ("", ":memory:"):
        with pytest.raises(ValueError, match="MemoryStore"):
            SQLiteStore(name)
    assert not path.exists()


def test_close_is_idempotent_and_a_closed_store_refuses(path: Path) -> None:
    store = SQLiteStore(path)
    store.apply([SessionStarted("c")])
    store.close()
    store.close()
    assert "closed" in repr(store)
    with pytest.raises(StoreError, match="closed") as caught:
        store.load()
    assert caught.value.path == str(path)
    assert isinstance(caught.value, MqttError)
    with pytest.raises(StoreError, match="closed"):
        store.apply([SessionStarted("d")])
    with SQLiteStore(path) as again:  # the lock went with close()
        assert again.load() == [SessionStarted("c")]


def test_context_manager_closes(path: Path) -> None:
    with SQLiteStore(os.fspath(path)) as store:
        pass
    assert store._db is None
    with SQLiteStore(path):  # not locked any more
        pass


# ---------------------------------------------------------------------- fidelity


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(publishes(V5, from_server=False), max_size=6),
    filters=st.lists(
        st.tuples(subscriptions(V5), properties_for(PacketType.SUBSCRIBE)), max_size=4
    ),
    client_id=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10),
)
def test_messages_and_subscriptions_round_trip_exactly(
    messages: list[Publish],
    filters: list[tuple[Subscription, Properties]],
    client_id: str,
) -> None:
    """Every field of a message and of a subscription survives, MQTT 5 properties included."""
    messages = [message._replace(packet_id=None) for message in messages]
    held = {sub.topic_filter: SubscriptionAdded(sub, props) for sub, props in filters}
    records: list[SessionRecord] = [SessionStarted(client_id)]
    for number, message in enumerate(messages, 1):
        records.append(PublishAccepted(number, message))
        if number % 2:
            records.append(PublishSent(number, number))
    records += held.values()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "s.db"
        with SQLiteStore(path) as store:
            store.apply(records)
            first = store.load()
        with SQLiteStore(path) as store:
            assert store.load() == first
    # (Sent ones first, then the others, then the subscriptions: see test_load_order.)
    sent = [r for r in records if isinstance(r, PublishSent)]
    loaded_messages = {r.number: r.publish for r in first if isinstance(r, PublishAccepted)}
    assert loaded_messages == dict(enumerate(messages, 1))
    assert [r for r in first if isinstance(r, PublishSent)] == sent
    assert [r for r in first if isinstance(r, SubscriptionAdded)] == list(held.values())
    assert first[0] == SessionStarted(client_id)


def test_a_message_with_every_publish_property(store: SQLiteStore) -> None:
    message = Publish(
        "topic/with/ünïcode",
        bytes(range(256)) * 4,
        2,
        retain=True,
        properties=Properties(
            payload_format_indicator=1,
            message_expiry_interval=3600,
            topic_alias=7,
            response_topic="reply/here",
            correlation_data=b"\x00\x01",
            user_properties=(("k", "v"), ("k", "v2"), ("", "")),
            content_type="application/json",
        ),
    )
    subscription = Subscription("a/+/#", 2, True, True, RetainHandling.DO_NOT_SEND)
    properties = Properties(subscription_identifiers=(268_435_455,), user_properties=(("a", "b"),))
    store.apply([PublishAccepted(3, message), SubscriptionAdded(subscription, properties)])
    assert store.load() == [
        PublishAccepted(3, message),
        SubscriptionAdded(subscription, properties),
    ]


# ---------------------------------------------------------------------- order and compaction


def test_load_order(store: SQLiteStore) -> None:
    """Started first; sent publishes in the order they were (last) sent; then the others."""
    message = Publish("t", b"", 2)
    store.apply(
        [
            SessionStarted("c"),
            *(PublishAccepted(n, message._replace(payload=bytes([n]))) for n in range(1, 6)),
            PublishSent(1, 11),
            PublishSent(2, 12),
            PublishSent(3, 13),
            InboundQoS2Received(9),
        ]
    )
    store.apply([PublishUnsent(1), PublishReleased(3), InboundQoS2Received(4)])
    store.apply([PublishSent(5, 15), PublishSent(1, 21)])  # 1 sent again: after 5 now
    records = store.load()
    kinds = [
        (type(r).__name__, getattr(r, "number", getattr(r, "packet_id", None))) for r in records
    ]
    assert kinds == [
        ("SessionStarted", None),
        ("PublishAccepted", 2),
        ("PublishSent", 2),
        ("PublishAccepted", 3),
        ("PublishSent", 3),
        ("PublishReleased", 3),
        ("PublishAccepted", 5),
        ("PublishSent", 5),
        ("PublishAccepted", 1),
        ("PublishSent", 1),
        ("PublishAccepted", 4),
        ("InboundQoS2Received", 4),
        ("InboundQoS2Received", 9),
    ]
    assert PublishSent(1, 21) in records
    session = Session.restore(records)
    assert list(session.outgoing) == [12, 13, 15, 21]
    assert session.outgoing[13].stage is Stage.AWAITING_PUBCOMP
    assert [h.number for h in session.pending or ()] == [4]


def test_the_same_order_when_sent_again_within_one_batch(store: SQLiteStore) -> None:
    message = Publish("t", b"", 1)
    store.apply(
        [
            PublishAccepted(1, message),
            PublishAccepted(2, message),
            PublishSent(1, 1),
            PublishUnsent(1),
            PublishSent(2, 2),
            PublishSent(1, 3),
        ]
    )
    assert list(Session.restore(store.load()).outgoing) == [2, 3]


def test_sent_and_unsent_again(store: SQLiteStore) -> None:
    """The broker lost the session: a publish sent waits again, without its packet id."""
    message = Publish("t", b"", 1)
    store.apply([PublishAccepted(1, message), PublishAccepted(2, message)])
    store.apply([PublishSent(1, 5), PublishSent(2, 6), PublishUnsent(1)])  # in one batch
    assert store.load() == [
        PublishAccepted(2, message),
        PublishSent(2, 6),
        PublishAccepted(1, message),
    ]
    store.apply([PublishUnsent(2)])  # in a batch of its own
    assert store.load() == [PublishAccepted(1, message), PublishAccepted(2, message)]
    assert [h.number for h in Session.restore(store.load()).pending or ()] == [1, 2]


def test_subscription_order_follows_the_session(store: SQLiteStore) -> None:
    """A filter replaced keeps its place; one removed and added again goes to the end."""
    props = Properties(subscription_identifiers=(1,))
    a, b, c = (SubscriptionAdded(Subscription(f), NO_PROPERTIES) for f in "abc")
    a2 = SubscriptionAdded(Subscription("a", 1), props)
    session = Session(recording=True)
    session.subscription_granted(a.subscription, a.properties)
    session.subscription_granted(b.subscription, b.properties)
    session.subscription_granted(c.subscription, c.properties)
    store.apply(session.take_records())
    session.subscription_granted(a2.subscription, a2.properties)  # replaced: stays first
    store.apply(session.take_records())
    assert [r for r in store.load() if isinstance(r, SubscriptionAdded)] == [a2, b, c]
    session.subscription_removed("b")
    session.subscription_granted(b.subscription, b.properties)  # removed, added: to the end
    session.subscription_granted(c.subscription, props)  # replaced in the same batch
    session.subscription_removed("a")
    store.apply(session.take_records())
    expected = list(session.subscriptions.values())
    assert [r.subscription.topic_filter for r in expected] == ["c", "b"]
    assert [r for r in store.load() if isinstance(r, SubscriptionAdded)] == expected


def test_session_started_forgets_inbound_ids(store: SQLiteStore) -> None:
    store.apply([InboundQoS2Received(1), InboundQoS2Received(2)])
    store.apply([InboundQoS2Received(3), SessionStarted("new"), InboundQoS2Received(4)])
    assert store.load() == [SessionStarted("new"), InboundQoS2Received(4)]
    store.apply([InboundQoS2Released(4), InboundQoS2Received(5), SessionStarted("again")])
    assert store.load() == [SessionStarted("again")]


class Statements:
    """The SQL statements a store's connection runs (its trace callback)."""

    def __init__(self, store: SQLiteStore) -> None:
        self.seen: list[str] = []
        db_of(store).set_trace_callback(self._seen)

    def _seen(self, statement: str) -> None:
        self.seen.append(statement)

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return seen


def test_a_publish_accepted_and_ended_in_one_batch_is_never_written(
    store: SQLiteStore,
) -> None:
    statements = Statements(store)
    message = Publish("t", b"x", 1)
    store.apply([PublishAccepted(1, message), PublishSent(1, 1), PublishEnded(1)])
    store.apply([PublishAccepted(2, message), PublishEnded(2)])  # withdrawn before sent
    assert statements.take() == []  # not even a transaction
    store.apply([PublishAccepted(3, message), PublishEnded(3), InboundQoS2Received(5)])
    written = statements.take()
    assert not [sql for sql in written if "outgoing" in sql]
    assert written[0] == "BEGIN" and written[-1] == "COMMIT"
    assert store.load() == [InboundQoS2Received(5)]


def test_several_changes_of_a_row_are_one_write(store: SQLiteStore) -> None:
    statements = Statements(store)
    message = Publish("t", b"x", 2)
    store.apply([PublishAccepted(1, message), PublishSent(1, 4), PublishReleased(1)])
    written = statements.take()
    assert written[0] == "BEGIN" and written[-1] == "COMMIT"
    assert len(written) == 3 and written[1].startswith("INSERT INTO outgoing")
    store.apply([PublishUnsent(1), PublishSent(1, 5), PublishReleased(1)])
    written = statements.take()
    assert len(written) == 3 and written[1].startswith("UPDATE outgoing SET packet_id")
    assert store.load() == [PublishAccepted(1, message), PublishSent(1, 5), PublishReleased(1)]


def test_qos1_batches_insert_and_delete_runs(store: SQLiteStore) -> None:
    """The QoS 1 pattern: accepted + sent in one turn, ended in the next."""
    statements = Statements(store)
    message = Publish("t", b"x", 1)
    for turn in range(4):
        numbers = range(turn * 40 + 1, turn * 40 + 41)  # more than one INSERT statement
        records: list[SessionRecord] = []
        for number in numbers:
            records += [PublishAccepted(number, message), PublishSent(number, number)]
        # The previous turn's, acknowledged out of order (PUBACKs of QoS 1 come in order,
        # but a failed one may end early); the numbers still make one run.
        previous = list(range(turn * 40 - 39, turn * 40 + 1)) if turn else []
        random.Random(turn).shuffle(previous)
        records += [PublishEnded(number) for number in previous]
        store.apply(records)
        written = statements.take()
        deletes = [sql for sql in written if sql.startswith("DELETE FROM outgoing")]
        assert len(deletes) == (1 if turn else 0)  # one run of numbers: one execution
        assert len([sql for sql in written if sql.startswith("INSERT")]) == 2
        held = [r.number for r in store.load() if isinstance(r, PublishSent)]
        assert held == list(numbers)


def test_records_for_publishes_the_store_does_not_hold_are_refused(store: SQLiteStore) -> None:
    store.apply([PublishAccepted(1, Publish("t", b"", 1))])
    batches: list[list[SessionRecord]] = [
        [InboundQoS2Received(3), PublishSent(2, 1)],
        [InboundQoS2Received(3), PublishEnded(2)],
        [InboundQoS2Received(3), PublishReleased(2)],
        [InboundQoS2Received(3), PublishAccepted(1, Publish("t", b"", 1))],  # a number reused
    ]
    for records in batches:
        with pytest.raises(StoreError, match=re.escape(str(store.path))):
            store.apply(records)
        # All of the batch or nothing: the inbound id was not stored either.
        assert store.load() == [PublishAccepted(1, Publish("t", b"", 1))]


def test_an_unknown_record_is_a_type_error(store: SQLiteStore) -> None:
    with pytest.raises(TypeError, match="not a session record"):
        store.apply([SessionStarted("c"), ("not", "a record")])  # type: ignore[list-item]
    assert store.load() == []


def test_a_damaged_message_is_reported_on_load(store: SQLiteStore) -> None:
    store.apply([PublishAccepted(1, Publish("t", b"x", 1))])
    db_of(store).execute("UPDATE outgoing SET message = x'300100'")
    with pytest.raises(StoreError, match="damaged session store: outgoing publish 1"):
        store.load()


def test_used_from_another_thread(store: SQLiteStore) -> None:
    errors: list[BaseException] = []

    def other() -> None:
        try:
            store.apply([SessionStarted("other thread")])
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], StoreError)
    assert "thread" in str(errors[0])
    store.apply([SessionStarted("own thread")])  # still fine in its own thread
    assert store.load() == [SessionStarted("own thread")]


# ---------------------------------------------------------------------- one client at a time

HOLDER = """
import sys, time
from asyncmqtt.protocol.packets import Publish
from asyncmqtt.protocol.session import PublishAccepted, PublishSent, SessionStarted
from asyncmqtt.store import SQLiteStore

store = SQLiteStore(sys.argv[1])
print("open", flush=True)
sys.stdin.readline()
store.apply([SessionStarted("held"), PublishAccepted(1, Publish("t", b"kept", 1))])
store.apply([PublishSent(1, 7)])
print("applied", flush=True)
time.sleep(60)
"""

OPENER = """
import sys
from asyncmqtt.store import SQLiteStore, StoreInUseError
try:
    SQLiteStore(sys.argv[1])
except StoreInUseError as error:
    print("refused:", error)
else:
    print("opened")
"""


def test_a_second_store_in_the_same_process_is_refused(path: Path) -> None:
    with SQLiteStore(path) as first:
        with pytest.raises(StoreInUseError, match="in use by another client") as caught:
            SQLiteStore(path)
        assert str(path) in str(caught.value)
        assert isinstance(caught.value, MqttError)
        first.apply([SessionStarted("first")])  # the refused opener changed nothing
        assert first.load() == [SessionStarted("first")]
    with SQLiteStore(path) as second:
        assert second.load() == [SessionStarted("first")]


def test_another_process_is_refused_while_we_hold_the_store(path: Path) -> None:
    with SQLiteStore(path):
        result = subprocess.run(
            [sys.executable, "-c", OPENER, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert result.stdout.startswith("refused:"), result.stdout + result.stderr
        assert str(path) in result.stdout and "in use" in result.stdout
    result = subprocess.run(
        [sys.executable, "-c", OPENER, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == "opened\n", result.stderr


def test_a_live_process_holds_the_store_until_it_is_killed(path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline() == "open\n"
            # Locked from the moment it is open, before anything is written.
            with pytest.raises(StoreInUseError, match=re.escape(str(path))):
                SQLiteStore(path)
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert holder.stdout.readline() == "applied\n"
            with pytest.raises(StoreInUseError):
                SQLiteStore(path)
        finally:
            holder.kill()  # SIGKILL: no close, no checkpoint, no clean-up of any kind
            holder.wait()
    assert holder.returncode == -9
    # The operating system released the lock; what the holder applied survived its death.
    with SQLiteStore(path) as store:
        assert store.load() == [
            SessionStarted("held"),
            PublishAccepted(1, Publish("t", b"kept", 1)),
            PublishSent(1, 7),
        ]


# ---------------------------------------------------------------------- files that are not ours


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(path: Path) -> None:
    for content in (b"not a database at all, just text", b"x"):
        path.write_bytes(content)
        with pytest.raises(StoreError, match="not an SQLite database") as caught:
            SQLiteStore(path)
        assert str(path) in str(caught.value)
        assert path.read_bytes() == content


def foreign_database(path: Path, *statements: str) -> bytes:
    db = sqlite3.connect(path)
    try:
        for statement in statements:
            db.execute(statement)
        db.commit()
    finally:
        db.close()
    return path.read_bytes()


def test_another_applications_database_is_refused_and_left_alone(path: Path) -> None:
    content = foreign_database(
        path, "CREATE TABLE invoices (id INTEGER PRIMARY KEY)", "INSERT INTO invoices VALUES (1)"
    )
    with pytest.raises(StoreError, match=r"another application .*tables invoices") as caught:
        SQLiteStore(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists()


def test_a_foreign_application_id_is_refused_even_without_tables(path: Path) -> None:
    content = foreign_database(path, "PRAGMA application_id = 1234")
    with pytest.raises(StoreError, match="application_id 0x4d2"):
        SQLiteStore(path)
    assert path.read_bytes() == content


def test_a_database_with_only_a_view_is_not_empty(path: Path) -> None:
    content = foreign_database(path, "CREATE VIEW answer AS SELECT 42")
    with pytest.raises(StoreError, match=r"another application \(application_id 0x0, no tables"):
        SQLiteStore(path)
    assert path.read_bytes() == content


def test_our_tables_under_another_application_id_are_refused(path: Path) -> None:
    with SQLiteStore(path):
        pass
    content = foreign_database(path, "PRAGMA application_id = 99")
    with pytest.raises(StoreError, match="another application"):
        SQLiteStore(path)
    assert path.read_bytes() == content


def test_a_newer_schema_is_refused_and_left_alone(path: Path) -> None:
    with SQLiteStore(path) as store:
        store.apply([SessionStarted("c")])
    content = foreign_database(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        SQLiteStore(path)
    assert path.read_bytes() == content


def test_a_damaged_store_is_refused(path: Path) -> None:
    foreign_database(path, f"PRAGMA application_id = {APPLICATION_ID}", "PRAGMA user_version = 1")
    with pytest.raises(StoreError, match="damaged session store"):
        SQLiteStore(path)
    path.unlink()
    with SQLiteStore(path):
        pass
    foreign_database(path, "DROP TABLE inbound_qos2")
    with pytest.raises(StoreError, match="damaged session store: schema version 1, tables meta"):
        SQLiteStore(path)


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "session.db"
    with pytest.raises(StoreError, match=r"directory .*missing.* does not exist") as caught:
        SQLiteStore(path)
    assert caught.value.path == str(path)
    assert not path.parent.exists()


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        SQLiteStore(tmp_path)


# ---------------------------------------------------------------------- driven by a connection

FILTERS = ("a/#", "b/+", "c", "d/e/f", "$share/g/h")
CODES = {
    "puback": (0x00, 0x00, 0x10, 0x80),
    "pubrec": (0x00, 0x00, 0x10, 0x80),
    "suback": (0x00, 0x01, 0x02, 0x80),
    "unsuback": (0x00, 0x11, 0x80),
}


class Scenario:
    """A client process (store, session, connection) on a scripted broker, and its restarts.

    Each operation does what a client or a broker can do; ``turn`` ends an event-loop turn as
    the client does: the records go to the store, then the bytes to the broker. ``check``
    compares the session restored from the store (and from every record since the start)
    with the live one.
    """

    def __init__(self, directory: Path, *, policy: SessionLostPolicy) -> None:
        self.path = directory / "session.db"
        self.config = ClientConfig(client_id="store-test", session_lost_policy=policy)
        self.now = 0.0
        self.history: list[SessionRecord] = []  # every record the store was given
        self.stored = comparable(Session())  # the session as of the last turn
        self.broker_inbound: set[int] = set()  # QoS 2 ids the broker sent, not yet released
        self.restarts = 0
        self.checks = 0
        self.start()

    def start(self) -> None:
        self.store = SQLiteStore(self.path)
        self.session = Session.restore(self.store.load())
        self.conn = ClientConnection(self.config, self.session)
        self.broker = FakeBroker(self.conn)

    def close(self) -> None:
        self.store.close()

    def turn(self) -> list[Packet]:
        records = self.session.take_records()
        self.history += records
        self.store.apply(records)
        self.stored = comparable(self.session)
        self.conn.events_received()
        return self.broker.received()

    def check(self) -> None:
        assert restored(self.store) == self.stored
        assert comparable(Session.restore(self.history)) == self.stored
        self.checks += 1

    def send(self, *packets: Packet) -> None:
        self.broker.now = self.now
        self.broker.send(*packets)

    @property
    def connected(self) -> bool:
        return self.conn.state is ConnectionState.CONNECTED

    def flows(self, stage: Stage) -> list[int]:
        return [pid for pid, handle in self.session.outgoing.items() if handle.stage is stage]

    # ------------------------------------------------------------------ operations

    def publish(self, rng: random.Random) -> None:
        qos = rng.choice((1, 2)) if self.conn.server.maximum_qos >= 2 else 1
        properties = NO_PROPERTIES
        if rng.random() < 0.3:
            properties = Properties(
                message_expiry_interval=rng.randrange(1, 1000),
                content_type="text/plain",
                correlation_data=rng.randbytes(4),
                user_properties=(("n", str(rng.random())),),
            )
        self.conn.publish(
            f"t/{rng.randrange(5)}",
            rng.randbytes(rng.randrange(0, 40)),
            qos,
            rng.random() < 0.2,
            properties,
            now=self.now,
        )

    def puback(self, rng: random.Random) -> None:
        ids = self.flows(Stage.AWAITING_PUBACK)
        if self.connected and ids:
            self.send(PubAck(rng.choice(ids), rng.choice(CODES["puback"])))

    def pubrec(self, rng: random.Random) -> None:
        ids = self.flows(Stage.AWAITING_PUBREC) + self.flows(Stage.AWAITING_PUBCOMP)
        if self.connected and ids:
            self.send(PubRec(rng.choice(ids), rng.choice(CODES["pubrec"])))

    def pubcomp(self, rng: random.Random) -> None:
        ids = self.flows(Stage.AWAITING_PUBCOMP)
        if self.connected and ids:
            self.send(PubComp(rng.choice(ids)))

    def inbound(self, rng: random.Random) -> None:
        """The broker sends a QoS 2 message (sometimes again, with DUP)."""
        if not self.connected:
            return
        if self.broker_inbound and rng.random() < 0.3:
            packet_id = rng.choice(sorted(self.broker_inbound))
            self.send(Publish("in", b"again", 2, dup=True, packet_id=packet_id))
        elif len(self.broker_inbound) < 20:
            packet_id = rng.choice([i for i in range(1, 40) if i not in self.broker_inbound])
            self.broker_inbound.add(packet_id)
            self.send(Publish("in", b"new", 2, packet_id=packet_id))

    def pubrel(self, rng: random.Random) -> None:
        if self.connected and self.broker_inbound:
            packet_id = rng.choice(sorted(self.broker_inbound))
            self.broker_inbound.discard(packet_id)
            self.send(PubRel(packet_id))

    def subscribe(self, rng: random.Random) -> None:
        if not self.connected:
            return
        chosen = rng.sample(FILTERS, rng.randrange(1, 3))
        subs = [
            Subscription(
                topic_filter,
                rng.randrange(3),
                not topic_filter.startswith("$share/") and rng.random() < 0.5,
                rng.random() < 0.5,
                RetainHandling(rng.randrange(3)),
            )
            for topic_filter in chosen
        ]
        properties = rng.choice(
            (
                NO_PROPERTIES,
                Properties(subscription_identifiers=(rng.randrange(1, 100),)),
                Properties(user_properties=(("u", "v"),)),
            )
        )
        packet_id = self.conn.subscribe(subs, properties, now=self.now)
        self.send(SubAck(packet_id, tuple(rng.choice(CODES["suback"]) for _ in subs)))

    def unsubscribe(self, rng: random.Random) -> None:
        if not self.connected:
            return
        chosen = rng.sample(FILTERS, rng.randrange(1, 3))
        packet_id = self.conn.unsubscribe(chosen, now=self.now)
        self.send(UnsubAck(packet_id, tuple(rng.choice(CODES["unsuback"]) for _ in chosen)))

    def withdraw(self, rng: random.Random) -> None:
        waiting = [h for h in self.session.pending or () if h.packet_id is None]
        if waiting:
            assert self.conn.withdraw(rng.choice(waiting))

    def lose_connection(self, rng: random.Random) -> None:
        if rng.random() < 0.5 and self.connected:
            self.conn.disconnect(now=self.now)
        else:
            self.conn.receive_eof(self.now)

    def connect(self, rng: random.Random) -> None:
        if self.conn.state not in (ConnectionState.IDLE, ConnectionState.CLOSED):
            return
        self.broker.new_network_connection()
        self.conn.connect(self.now)
        connect = self.turn()[0]
        assert isinstance(connect, Connect)
        if rng.random() < 0.05:
            self.send(ConnAck(False, 0x87))  # refused: nothing of the session changes
            return
        present = not connect.clean_start and rng.random() < 0.7
        if not present:
            self.broker_inbound.clear()
        # (A broker may assign an identifier with a session present too: the session is kept.)
        assigned = rng.choice((None, None, None, "assigned"))
        properties = Properties(
            receive_maximum=rng.choice((None, 1, 2, 3)),
            maximum_qos=rng.choice((None, None, None, 1)),
            assigned_client_identifier=assigned,
        )
        self.send(ConnAck(present, 0, properties))

    def restart(self, rng: random.Random) -> None:
        """The process stops (cleanly, or killed before the turn's records were stored) and a
        new one opens the store, restores the session and connects."""
        if rng.random() < 0.5:
            self.turn()
            self.check()
        else:
            self.session.take_records()  # killed: this turn's records (and bytes) are lost
        self.store.close()
        self.start()
        assert comparable(self.session) == self.stored
        self.history = self.store.load()  # the restored session's records start from here
        self.restarts += 1
        self.connect(rng)

    OPERATIONS = (
        "publish",
        "publish",
        "publish",
        "puback",
        "puback",
        "pubrec",
        "pubcomp",
        "inbound",
        "pubrel",
        "subscribe",
        "unsubscribe",
        "withdraw",
        "lose_connection",
        "connect",
        "connect",
        "restart",
    )

    def run(self, operation: int, seed: int, end_turn: bool) -> None:
        rng = random.Random(seed)
        self.now += 0.1
        getattr(self, self.OPERATIONS[operation % len(self.OPERATIONS)])(rng)
        if end_turn:
            self.turn()
            self.check()


@pytest.mark.parametrize(
    ("seed", "policy"),
    [
        (1, SessionLostPolicy.RESEND),
        (2, SessionLostPolicy.RESEND),
        (3, SessionLostPolicy.FAIL),
    ],
)
def test_restored_session_equals_the_live_one(
    tmp_path: Path, seed: int, policy: SessionLostPolicy
) -> None:
    rng = random.Random(seed)
    scenario = Scenario(tmp_path, policy=policy)
    try:
        scenario.connect(rng)
        seen: dict[str, int] = {}
        for _ in range(1500):
            operation = rng.randrange(len(Scenario.OPERATIONS))
            scenario.run(operation, rng.randrange(2**32), rng.random() < 0.6)
            # What the session held along the way: the scenario must reach every state.
            for handle in scenario.session.outgoing.values():
                seen[handle.stage.name] = seen.get(handle.stage.name, 0) + 1
            seen["pending"] = seen.get("pending", 0) + scenario.session.pending_count
            seen["inbound"] = seen.get("inbound", 0) + len(scenario.session.inbound_qos2)
            seen["subscriptions"] = seen.get("subscriptions", 0) + len(
                scenario.session.subscriptions
            )
        scenario.turn()
        scenario.check()
        final = scenario.stored
        scenario.close()
        with SQLiteStore(scenario.path) as reopened:  # a new object on the same file
            assert restored(reopened) == final
    finally:
        scenario.close()
    assert scenario.restarts > 20 and scenario.checks > 500
    for state in ("AWAITING_PUBACK", "AWAITING_PUBREC", "AWAITING_PUBCOMP", "pending"):
        assert seen.get(state, 0) > 50, seen
    assert seen["inbound"] > 50 and seen["subscriptions"] > 50, seen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operations=st.lists(
        st.tuples(
            st.integers(0, len(Scenario.OPERATIONS) - 1), st.integers(0, 2**32), st.booleans()
        ),
        max_size=80,
    ),
    policy=st.sampled_from(SessionLostPolicy),
)
def test_restored_session_equals_the_live_one_hypothesis(
    operations: list[tuple[int, int, bool]], policy: SessionLostPolicy
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        scenario = Scenario(Path(directory), policy=policy)
        try:
            scenario.connect(random.Random(0))
            for operation in operations:
                scenario.run(*operation)
            scenario.turn()
            scenario.check()
        finally:
            scenario.close()
        with SQLiteStore(scenario.path) as reopened:
            assert restored(reopened) == scenario.stored
