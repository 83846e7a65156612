"""Session stores: where a client keeps its session across restarts of the process.

Theory of operation
-------------------
A ``Session`` (``asyncmqtt.protocol.session``) is what outlives one network connection: outgoing
QoS 1/2 publishes and their stage, inbound QoS 2 packet ids awaiting PUBREL, subscriptions,
the client identifier. A *store* makes it outlive the process as well. The client talks to a
store through ``SessionStore``:

* ``load()``, once when the client starts: the stored session as records, which
  ``Session.restore`` turns back into a session (empty for a new store);
* ``apply(records)``, once per event-loop turn with the records the session made in that turn
  (``Session.take_records``), *before* the bytes that depend on them are written to the
  network (write-ahead): a publish is stored before it leaves, an inbound QoS 2 id before its
  PUBREC leaves. A batch is stored atomically: all of it or, after a crash, none of it;
* ``close()``.

``durable`` says whether the store keeps anything. ``MemoryStore``, the default, keeps nothing
beyond the process (``durable`` False): the client then does not record at all, so a client
without a store pays nothing for the possibility.

``SQLiteStore`` keeps the session in an SQLite file (standard library ``sqlite3``), not as a
log of records but as the session's current state, one row per thing the session holds; each
``apply`` is one transaction that brings the rows up to date:

* ``meta``: one row: the schema version, the client id, whether the session started;
* ``outgoing``: one row per outgoing QoS 1/2 publish: ``number`` (the session's number of it,
  the key), ``message`` (the PUBLISH), ``packet_id`` (NULL until sent), ``stage`` (0 waiting
  to be sent, 1 sent and awaiting PUBACK or PUBREC, 2 released, awaiting PUBCOMP) and ``sent``
  (the order in which the publishes were sent, NULL while unsent);
* ``inbound_qos2``: the inbound QoS 2 packet ids whose PUBREC was sent and whose PUBREL has
  not come;
* ``subscriptions``: one row per topic filter: the SUBSCRIBE that made it (options and
  properties) and ``added``, the order in which the filters were added.

Messages and subscriptions are stored as MQTT 5 packets encoded by the protocol codec (a
PUBLISH; a SUBSCRIBE of the one filter with its properties), so everything MQTT can say about
them, properties included, survives, and no second format has to be kept in step with the
first.

A batch is compacted before it is written: the records are folded into at most one change per
row (a publish accepted and ended in the same turn is never written at all; accepted and sent
becomes one INSERT), and each kind of change is written with one statement for many rows
(``executemany``; new publishes as INSERTs of up to 32 rows, ended ones as DELETEs of runs of
numbers). The QoS 1 pattern (accepted + sent in one turn, ended in a later one) costs SQLite
one row inserted and one deleted per message, and one commit per turn: the benchmark
``store_cost.py`` of the repository's benchmarks measures it (about 5 us a message at 20 a
turn).

``load`` reads the rows back as records in the order ``Session.restore`` needs: the start of
the session first (it forgets inbound ids), then the sent publishes in the order they were
sent (a resumed session resends in that order), then those never sent, by number, then the
inbound ids and the subscriptions in the order they were added.

Exclusive use: two clients working on one session would each resend, acknowledge and forget
the other's messages. The file is therefore opened in SQLite's EXCLUSIVE locking mode and the
lock is taken at once: a second opener, in this process or another, gets SQLITE_BUSY at once
(no busy timeout) and ``StoreInUseError``. The operating system releases the lock when the
holder closes the store or dies. (With EXCLUSIVE locking set before the first WAL access,
SQLite keeps the WAL index in the process's memory and creates no ``-shm`` file.)

A file that is not a store of ours (not SQLite, another application's database, a newer schema)
is refused with ``StoreError`` naming the path and the reason; it is never changed.

To add a record kind: a function folding it into ``_Batch`` (registered in ``_FOLD``), the
statements writing what it changed in ``_Batch.write``, what ``load`` reads back, and, when
the schema changes, ``SCHEMA_VERSION`` + 1 with a migration of the older files in ``_open``.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Protocol, Self, runtime_checkable

from .errors import MqttError
from .protocol.codec import Decoder, encode
from .protocol.enums import ProtocolVersion
from .protocol.packets import Publish, Subscribe
from .protocol.session import (
    InboundQoS2Received,
    InboundQoS2Released,
    PublishAccepted,
    PublishEnded,
    PublishReleased,
    PublishSent,
    PublishUnsent,
    SessionRecord,
    SessionStarted,
    SubscriptionAdded,
    SubscriptionRemoved,
)

__all__ = (
    "SessionStore",
    "MemoryStore",
    "SQLiteStore",
    "StoreError",
    "StoreInUseError",
)

_V5: Final = ProtocolVersion.V5
_new_tuple: Final = tuple.__new__  # builds a NamedTuple without its Python-level __new__
# "MQSS" (MQTT session store): lets us tell our files from other applications' SQLite files.
APPLICATION_ID: Final = 0x4D515353
"""The SQLite ``application_id`` of a session store's file ("MQSS")."""
SCHEMA_VERSION: Final = 1
"""The version of the file's schema (SQLite's ``user_version``) this library writes."""
_SQLITE_HEADER: Final = b"SQLite format 3\x00"

# outgoing.stage
_WAITING: Final = 0  # no packet id: never sent, or unsent after the broker lost the session
_SENT: Final = 1  # awaiting PUBACK (QoS 1) or PUBREC (QoS 2)
_RELEASED: Final = 2  # PUBREC came: awaiting PUBCOMP

_SCHEMA: Final = f"""
BEGIN;
CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    started INTEGER NOT NULL CHECK (started BETWEEN 0 AND 1)
);
INSERT INTO meta VALUES (1, {SCHEMA_VERSION}, '', 0);
CREATE TABLE outgoing (
    number INTEGER PRIMARY KEY,
    message BLOB NOT NULL,
    packet_id INTEGER CHECK (packet_id BETWEEN 1 AND 65535),
    -- (BETWEEN, not IN: an IN list costs SQLite an ephemeral table per row, 3 us here)
    stage INTEGER NOT NULL CHECK (stage BETWEEN {_WAITING} AND {_RELEASED}),
    sent INTEGER,
    CHECK ((packet_id IS NULL) = (stage = {_WAITING}) AND (sent IS NULL) = (packet_id IS NULL))
);
CREATE TABLE inbound_qos2 (
    packet_id INTEGER PRIMARY KEY CHECK (packet_id BETWEEN 1 AND 65535)
);
CREATE TABLE subscriptions (
    topic_filter TEXT PRIMARY KEY,
    subscribe BLOB NOT NULL,
    added INTEGER NOT NULL
);
PRAGMA application_id = {APPLICATION_ID};
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""
_TABLES: Final = frozenset({"meta", "outgoing", "inbound_qos2", "subscriptions"})

_SYNCHRONOUS: Final = {"normal": "NORMAL", "full": "FULL"}
_JOURNAL_SIZE_LIMIT: Final = 16 * 1024 * 1024


class StoreError(MqttError):
    """A session store cannot be used: not a store of ours, damaged, closed, or a write failed.

    ``path`` is the store's file. The stores raise it; its parameters are ``path`` and
    ``message`` (what is wrong), and ``str()`` gives ``session store <path>: <message>``. The
    ``sqlite3`` or ``OSError`` that caused it, if any, is chained as ``__cause__``.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"session store {path}: {message}")
        self.path = path
        """The store's file, as given to the store (a ``str``)."""


class StoreInUseError(StoreError):
    """The store's file is open in another live client (in this process or another)."""


@runtime_checkable
class SessionStore(Protocol):
    """Where a client keeps its session (see the module docstring).

    The client calls every method from its event loop's thread.
    """

    @property
    def durable(self) -> bool:
        """Whether the store keeps anything; a client records its session only if so."""
        ...

    def load(self) -> list[SessionRecord]:
        """The stored session as records for ``Session.restore``; empty for a new store."""
        ...

    def apply(self, records: Sequence[SessionRecord]) -> None:
        """Store a batch of records atomically; returns once it is stored."""
        ...

    def close(self) -> None:
        """Let go of the store (idempotent)."""
        ...


class MemoryStore:
    """The default store: keeps nothing beyond the process (the session lives in memory).

    ``MemoryStore()`` takes no parameters. Since it is not ``durable``, the client does not
    record the session at all, so it costs nothing; a restarted program starts a new session.
    It is also a context manager (doing nothing).
    """

    durable: Final = False
    """False: it keeps nothing, and the client records nothing for it."""

    def load(self) -> list[SessionRecord]:
        """No records: a new, empty session (an empty list)."""
        return []

    def apply(self, records: Sequence[SessionRecord]) -> None:
        """Keep nothing of ``records`` (the client does not call it: the store is not
        ``durable``)."""

    def close(self) -> None:
        """Nothing to let go of (idempotent, as every store's ``close``)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pass

    def __repr__(self) -> str:
        return "<MemoryStore>"


# ---------------------------------------------------------------------- serialising


def _encode_publish(publish: Publish) -> bytes:
    # A QoS 1/2 PUBLISH must carry a packet id to be encoded; the session's message has none
    # (ids belong to one sending), so a placeholder stands in and is dropped when decoding.
    topic, payload, qos, retain, dup, packet_id, properties = publish
    if qos and packet_id is None:
        publish = _new_tuple(Publish, (topic, payload, qos, retain, dup, 1, properties))
    return encode(publish, _V5)


def _decode(data: bytes) -> object:
    decoder = Decoder(server_side=True, version=_V5)
    decoder.feed(data)
    packet = decoder.next_packet()
    if decoder.next_packet() is not None:
        raise ValueError("more than one packet")
    return packet


def _decode_publish(data: bytes) -> Publish:
    packet = _decode(data)
    if type(packet) is not Publish:
        raise ValueError(f"not a PUBLISH: {packet!r}")
    return packet._replace(packet_id=None)


def _encode_subscription(record: SubscriptionAdded) -> bytes:
    return encode(Subscribe(1, (record.subscription,), record.properties), _V5)


def _decode_subscription(data: bytes) -> SubscriptionAdded:
    packet = _decode(data)
    if type(packet) is not Subscribe or len(packet.subscriptions) != 1:
        raise ValueError(f"not a SUBSCRIBE of one filter: {packet!r}")
    return SubscriptionAdded(packet.subscriptions[0], packet.properties)


# ---------------------------------------------------------------------- batches

# What a batch does to an outgoing row: the first item of its change.
_INSERT: Final = 0  # accepted in this batch: [_INSERT, publish, packet_id, sent, stage]
_SET: Final = 1  # packet id, order and stage changed: [_SET, None, packet_id, sent, stage]
_STAGE: Final = 2  # only the stage changed: [_STAGE, None, None, None, stage]
_DELETE: Final = 3  # ended (a tuple: nothing may change it afterwards)
_DELETED: Final = (_DELETE,)

# Rows per INSERT statement: one statement of many rows costs SQLite less than as many
# executions of a one-row statement (0.6 us a message less here at 20 a batch).
_INSERT_ROWS: Final = 32
_INSERTS: Final = [
    "INSERT INTO outgoing (number, message, packet_id, sent, stage) VALUES "
    + ", ".join(["(?, ?, ?, ?, ?)"] * rows)
    for rows in range(_INSERT_ROWS + 1)
]


class _Batch:
    """The records of one ``apply``, folded into at most one change per row."""

    __slots__ = (
        "client_id",
        "forget_inbound",
        "inbound",
        "outgoing",
        "send_order",
        "subscriptions",
    )

    def __init__(self, send_order: itertools.count[int]) -> None:
        self.send_order = send_order  # numbers the sendings, in order (``outgoing.sent``)
        self.outgoing: dict[int, Any] = {}  # number -> change (see _INSERT ... _DELETE)
        self.client_id: str | None = None  # set by SessionStarted
        self.forget_inbound = False  # SessionStarted: inbound ids stored before are forgotten
        self.inbound: dict[int, bool] = {}  # packet id -> held (True) or released (False)
        # topic filter -> (the row is deleted first, the subscription to write or None). A
        # filter removed and added again is deleted and inserted, so that it moves to the end
        # of the order as it does in the session's dict; one only replaced keeps its place.
        self.subscriptions: dict[str, tuple[bool, SubscriptionAdded | None]] = {}

    def write(self, db: sqlite3.Connection, path: str) -> None:
        """Write the changes (inside the caller's transaction)."""
        if self.client_id is not None:
            db.execute("UPDATE meta SET client_id = ?, started = 1", (self.client_id,))
        if self.forget_inbound:
            db.execute("DELETE FROM inbound_qos2")
        if self.inbound:
            inbound = self.inbound.items()
            db.executemany(
                "INSERT OR IGNORE INTO inbound_qos2 VALUES (?)",
                [(packet_id,) for packet_id, held in inbound if held],
            )
            db.executemany(
                "DELETE FROM inbound_qos2 WHERE packet_id = ?",
                [(packet_id,) for packet_id, held in inbound if not held],
            )
        if self.subscriptions:
            self._write_subscriptions(db)
        if self.outgoing:
            self._write_outgoing(db, path)

    def _write_subscriptions(self, db: sqlite3.Connection) -> None:
        changes = self.subscriptions.items()
        db.executemany(
            "DELETE FROM subscriptions WHERE topic_filter = ?",
            [(topic_filter,) for topic_filter, (delete, _) in changes if delete],
        )
        (added,) = db.execute("SELECT coalesce(max(added), 0) FROM subscriptions").fetchone()
        rows = [
            (topic_filter, _encode_subscription(record), added + index)
            for index, (topic_filter, (_, record)) in enumerate(changes, 1)
            if record is not None
        ]
        # (A filter held already keeps its place in the order: ``added`` is not updated.)
        db.executemany(
            "INSERT INTO subscriptions VALUES (?, ?, ?) ON CONFLICT (topic_filter) "
            "DO UPDATE SET subscribe = excluded.subscribe",
            rows,
        )

    def _write_outgoing(self, db: sqlite3.Connection, path: str) -> None:
        inserts: list[object] = []  # the values of the rows, one after the other
        sets = []
        stages = []
        deletes = []
        for number, change in self.outgoing.items():
            kind = change[0]
            if kind == _INSERT:
                inserts += (number, _encode_publish(change[1]), change[2], change[3], change[4])
            elif kind == _DELETE:
                deletes.append(number)
            elif kind == _SET:
                sets.append((change[2], change[3], change[4], number))
            else:
                stages.append((change[4], number))
        # A change to a row that is not there means that the records are not this store's
        # session (a session not restored from it): say so rather than drift apart silently.
        changed = 0
        if deletes:
            # Publishes mostly end in the order they began: one DELETE per run of numbers.
            deletes.sort()
            runs = []
            first = last = deletes[0]
            for number in deletes:
                if number > last + 1:
                    runs.append((first, last))
                    first = number
                last = number
            runs.append((first, last))
            changed += db.executemany(
                "DELETE FROM outgoing WHERE number BETWEEN ? AND ?", runs
            ).rowcount
        if sets:
            changed += db.executemany(
                "UPDATE outgoing SET packet_id = ?, sent = ?, stage = ? WHERE number = ?", sets
            ).rowcount
        if stages:
            changed += db.executemany(
                "UPDATE outgoing SET stage = ? WHERE number = ?", stages
            ).rowcount
        if changed != len(deletes) + len(sets) + len(stages):
            numbers = sorted({*deletes, *(row[-1] for row in (*sets, *stages))})
            raise StoreError(
                path,
                "the records change outgoing publishes that the store does not hold (among "
                f"numbers {', '.join(map(str, numbers[:20]))}): the session was not restored "
                "from this store",
            )
        step = 5 * _INSERT_ROWS
        for start in range(0, len(inserts), step):
            values = inserts[start : start + step]
            db.execute(_INSERTS[len(values) // 5], values)


# The records of every QoS 1/2 message (PublishAccepted, PublishSent, PublishEnded) are folded
# inline in ``SQLiteStore.apply`` (a call each would cost more than the folding); the others
# by these functions, each taking its own kind.


def _released(batch: _Batch, record: PublishReleased) -> None:
    change = batch.outgoing.get(record.number)
    if change is None:
        batch.outgoing[record.number] = [_STAGE, None, None, None, _RELEASED]
    else:
        change[4] = _RELEASED


def _unsent(batch: _Batch, record: PublishUnsent) -> None:
    change = batch.outgoing.get(record.number)
    if change is None:
        batch.outgoing[record.number] = [_SET, None, None, None, _WAITING]
        return
    if change[0] == _STAGE:
        change[0] = _SET
    change[2] = change[3] = None
    change[4] = _WAITING


def _started(batch: _Batch, record: SessionStarted) -> None:
    batch.client_id = record.client_id
    if record.clean:  # (else only the identifier changed: the broker kept the session)
        batch.forget_inbound = True
        batch.inbound.clear()


def _inbound_received(batch: _Batch, record: InboundQoS2Received) -> None:
    batch.inbound[record.packet_id] = True


def _inbound_released(batch: _Batch, record: InboundQoS2Released) -> None:
    batch.inbound[record.packet_id] = False


def _subscription_added(batch: _Batch, record: SubscriptionAdded) -> None:
    changes = batch.subscriptions
    topic_filter = record.subscription.topic_filter
    change = changes.get(topic_filter)
    if change is None:
        changes[topic_filter] = (False, record)
    elif change[1] is None:  # removed earlier in the batch: added again at the end
        del changes[topic_filter]
        changes[topic_filter] = (True, record)
    else:
        changes[topic_filter] = (change[0], record)


def _subscription_removed(batch: _Batch, record: SubscriptionRemoved) -> None:
    batch.subscriptions.pop(record.topic_filter, None)
    batch.subscriptions[record.topic_filter] = (True, None)


_FOLD: Final[dict[type, Callable[[_Batch, Any], None]]] = {
    PublishReleased: _released,
    PublishUnsent: _unsent,
    SessionStarted: _started,
    InboundQoS2Received: _inbound_received,
    InboundQoS2Released: _inbound_released,
    SubscriptionAdded: _subscription_added,
    SubscriptionRemoved: _subscription_removed,
}


# ---------------------------------------------------------------------- SQLiteStore


class SQLiteStore:
    """A session kept in an SQLite file (WAL journal), for a client that must survive restarts.

    ``path``: the file; it is created if it does not exist (its directory must). One client
    at a time: a file in use by another live ``SQLiteStore`` (in this process or another)
    raises ``StoreInUseError``; the lock goes with ``close()`` or with the process. A file
    that is not a session store of this library (not SQLite, another application's database,
    a newer schema) raises ``StoreError`` and is left as it is.

    ``synchronous`` chooses what a stored batch survives:

    * ``"normal"`` (the default; SQLite's ``synchronous=NORMAL`` in WAL mode): a commit
      writes to the WAL file without waiting for the disk (fsync happens at checkpoints). A
      crash of the process loses nothing that ``apply`` returned from. A power loss or an
      operating-system crash may lose the transactions of the last moments before it: the
      file stays consistent, the session as it was a moment earlier. Publishes accepted in
      that moment are then forgotten (lost, unless the broker already had them), those
      completed in it are sent again, and an inbound QoS 2 message whose PUBREC left in it may
      be delivered again.
    * ``"full"`` (``synchronous=FULL``): every commit is fsynced before ``apply`` returns, so
      a stored batch survives a power loss too, at the cost of one fsync per event-loop turn
      that changed the session (from well under a millisecond on an SSD with a
      power-loss-protected cache to several milliseconds on others).

    It is used from the thread that made it (``sqlite3`` checks that: another thread gets
    ``StoreError``), the event loop's. ``close`` is idempotent; the store is also a context
    manager.

    ``path`` is a ``str`` or ``os.PathLike``; ``synchronous`` is keyword only. Raises
    ``ValueError`` for a ``synchronous`` other than ``"normal"`` or ``"full"`` and for an
    empty path or ``":memory:"`` (use ``MemoryStore``), ``StoreInUseError`` and ``StoreError``
    as above (a directory that does not exist, a file that cannot be read). See the guide
    Session stores.
    """

    durable: Final = True
    """True: it keeps the session, so the client records every change for it."""

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: Literal["normal", "full"] = "normal"
    ) -> None:
        self.path = os.fspath(path)
        """The file, as a ``str``."""
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be 'normal' or 'full', got {synchronous!r}")
        if self.path in ("", ":memory:"):
            raise ValueError(f"SQLiteStore needs a file, got {self.path!r} (use MemoryStore)")
        self.synchronous = synchronous
        """``"normal"`` or ``"full"``, as given."""
        self._db: sqlite3.Connection | None = None
        self._check_file()
        db = self._connect()
        try:
            next_sending = self._open(db)
        except BaseException:
            db.close()
            raise
        self._db = db
        self._send_order = itertools.count(next_sending)

    # ------------------------------------------------------------------ opening

    def _check_file(self) -> None:
        """Refuse what SQLite would refuse less clearly (or would create a file for)."""
        path = Path(self.path)
        try:
            with path.open("rb") as file:
                header = file.read(len(_SQLITE_HEADER))
        except FileNotFoundError:
            parent = path.parent
            if not parent.is_dir():
                raise StoreError(
                    self.path, f"cannot create it: the directory {str(parent)!r} does not exist"
                ) from None
            return
        except IsADirectoryError:
            raise StoreError(self.path, "it is a directory, not a file") from None
        except OSError as error:
            raise StoreError(self.path, f"cannot read it: {error}") from error
        if header and header != _SQLITE_HEADER:  # (an empty file is a new database)
            raise StoreError(self.path, "not a session store: the file is not an SQLite database")

    def _connect(self) -> sqlite3.Connection:
        try:
            # timeout=0: a file locked by another client fails at once, it is not waited for.
            # isolation_level=None: transactions are begun and committed here, explicitly.
            return sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=True
            )
        except sqlite3.Error as error:
            raise StoreError(self.path, f"cannot open it: {error}") from error

    def _open(self, db: sqlite3.Connection) -> int:
        """Lock the file, check it (making a new one a store), and set it up.

        Returns the number of the next sending (``outgoing.sent``).
        """
        try:
            # EXCLUSIVE before the first access: the lock, once taken, is held until close,
            # and the WAL index lives in our memory (no -shm file another process could use).
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            # Small pages: a commit writes each page it changed to the WAL, and one batch
            # changes a few short rows; 1 KiB pages make a commit some 40% cheaper than 4 KiB.
            # (Only a new file takes it: an existing one keeps the size it was made with.)
            db.execute("PRAGMA page_size = 1024")
            db.execute("BEGIN EXCLUSIVE")  # takes the lock now, before anything is read
        except sqlite3.Error as error:
            if error.sqlite_errorcode == sqlite3.SQLITE_BUSY:
                raise StoreInUseError(
                    self.path,
                    "the file is in use by another client (another process, or another "
                    "SQLiteStore in this one); a session can be used by one client at a time",
                ) from error
            raise StoreError(self.path, f"cannot open it: {error}") from error
        try:
            new = self._check_schema(db)
            db.execute("COMMIT")
            # (A file of ours only from here on: nothing was changed in a file refused above.)
            (mode,) = db.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode != "wal":
                raise StoreError(self.path, f"SQLite cannot use WAL journal mode on it ({mode})")
            db.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[self.synchronous]}")
            # The WAL is reused from its start after each checkpoint and keeps its size; one
            # batch of large messages should not leave a large file behind for good.
            db.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
            if new:
                db.executescript(_SCHEMA)  # (one transaction: a crash leaves an empty file)
                self._check_schema(db)
            (sent,) = db.execute("SELECT coalesce(max(sent), 0) FROM outgoing").fetchone()
        except sqlite3.Error as error:
            raise StoreError(self.path, f"cannot open it: {error}") from error
        return int(sent) + 1

    def _check_schema(self, db: sqlite3.Connection) -> bool:
        """True for an empty database (a new store); raises for anything not ours."""
        (application_id,) = db.execute("PRAGMA application_id").fetchone()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        objects = db.execute(
            "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        ).fetchall()
        tables = {name for kind, name in objects if kind == "table"}
        if application_id != APPLICATION_ID:
            if application_id == 0 and version == 0 and not objects:
                return True  # (nothing in it: a new file, or one made empty by SQLite)
            what = f"tables {', '.join(sorted(tables))}" if tables else "no tables"
            raise StoreError(
                self.path,
                f"not a session store: an SQLite database of another application "
                f"(application_id {application_id:#x}, {what})",
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                self.path,
                f"its schema version {version} is newer than this version of asyncmqtt "
                f"supports ({SCHEMA_VERSION}): open it with the newer asyncmqtt that wrote it",
            )
        if version < 1 or tables != _TABLES:
            raise StoreError(
                self.path,
                f"damaged session store: schema version {version}, "
                f"tables {', '.join(sorted(tables)) or 'none'}",
            )
        (meta_version,) = db.execute("SELECT schema_version FROM meta").fetchone()
        if meta_version != version:
            raise StoreError(
                self.path,
                f"damaged session store: schema version {version} in the header, "
                f"{meta_version} in its meta table",
            )
        return False

    # ------------------------------------------------------------------ SessionStore

    def load(self) -> list[SessionRecord]:
        """The stored session as records for ``Session.restore`` (in the order it needs).

        Empty for a new store. Raises ``StoreError`` when the store is closed, the file cannot
        be read, or what it holds is damaged (naming what).
        """
        db = self._require_open()
        records: list[SessionRecord] = []
        reading = "the meta table"  # (for the error message)
        try:
            client_id, started = db.execute("SELECT client_id, started FROM meta").fetchone()
            if started:
                records.append(SessionStarted(client_id))
            for number, message, packet_id, stage in db.execute(
                "SELECT number, message, packet_id, stage FROM outgoing "
                "WHERE packet_id IS NOT NULL ORDER BY sent"
            ):
                reading = f"outgoing publish {number}"
                records.append(PublishAccepted(number, _decode_publish(message)))
                records.append(PublishSent(number, packet_id))
                if stage == _RELEASED:
                    records.append(PublishReleased(number))
            for number, message in db.execute(
                "SELECT number, message FROM outgoing WHERE packet_id IS NULL ORDER BY number"
            ):
                reading = f"outgoing publish {number}"
                records.append(PublishAccepted(number, _decode_publish(message)))
            records += [
                InboundQoS2Received(packet_id)
                for (packet_id,) in db.execute(
                    "SELECT packet_id FROM inbound_qos2 ORDER BY packet_id"
                )
            ]
            for topic_filter, subscribe in db.execute(
                "SELECT topic_filter, subscribe FROM subscriptions ORDER BY added"
            ):
                reading = f"the subscription {topic_filter!r}"
                record = _decode_subscription(subscribe)
                if record.subscription.topic_filter != topic_filter:
                    raise ValueError("its SUBSCRIBE is for another filter")
                records.append(record)
        except sqlite3.Error as error:
            raise StoreError(self.path, f"cannot read it: {error}") from error
        except (ValueError, MqttError) as error:  # (the codec's errors are MqttErrors)
            raise StoreError(self.path, f"damaged session store: {reading}: {error}") from error
        return records

    def apply(self, records: Sequence[SessionRecord]) -> None:
        """Store a batch of records in one transaction (compacted: see the module docstring).

        Returns once the transaction is committed. Raises ``StoreError`` when it cannot be
        (disk full, an I/O error, records that do not fit the stored session): nothing of the
        batch is then stored, and the bytes that depend on it must not be written. Raises
        ``TypeError`` for anything that is not a session record. ``records`` are the records
        of one event-loop turn, in the order the session made them (``Session.take_records``);
        an empty batch does nothing.
        """
        if not records:
            return
        db = self._require_open()
        send_order = self._send_order
        batch = _Batch(send_order)
        outgoing = batch.outgoing
        fold = _FOLD
        for record in records:
            if type(record) is PublishAccepted:
                outgoing[record.number] = [_INSERT, record.publish, None, None, _WAITING]
            elif type(record) is PublishSent:
                number = record.number
                change = outgoing.get(number)
                if change is None:
                    outgoing[number] = [_SET, None, record.packet_id, next(send_order), _SENT]
                else:
                    if change[0] == _STAGE:
                        change[0] = _SET
                    change[2] = record.packet_id
                    change[3] = next(send_order)
                    change[4] = _SENT
            elif type(record) is PublishEnded:
                number = record.number
                change = outgoing.get(number)
                if change is not None and change[0] == _INSERT:
                    del outgoing[number]  # accepted and ended in this batch: never written
                else:
                    outgoing[number] = _DELETED
            else:
                folder = fold.get(type(record))
                if folder is None:
                    raise TypeError(f"not a session record: {record!r}")
                folder(batch, record)
        if not (outgoing or batch.inbound or batch.subscriptions or batch.client_id is not None):
            return  # (everything cancelled out, e.g. publishes accepted and withdrawn)
        try:
            db.execute("BEGIN")
            try:
                batch.write(db, self.path)
                db.execute("COMMIT")
            except BaseException:
                # All of the batch or nothing. (A failed COMMIT may have ended it already.)
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise StoreError(self.path, f"cannot store the session: {error}") from error

    def close(self) -> None:
        """Close the file (releasing the lock); idempotent."""
        db = self._db
        if db is not None:
            db.close()  # (raises in another thread, and the store then stays open)
            self._db = None

    def _require_open(self) -> sqlite3.Connection:
        db = self._db
        if db is None:
            raise StoreError(self.path, "the store is closed")
        return db

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._db is None else self.synchronous
        return f"<SQLiteStore {self.path!r} {state}>"
