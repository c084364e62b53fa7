"""SQLite persistence for the prompt queue and history (WAL journal, numbered migrations).

One database file, `<user directory>/comfy-core.db`. Every change is committed before the caller goes on.
WAL with `synchronous=NORMAL` makes every commit survive a crash of the process (kill -9); adding a
prompt additionally syncs the WAL to disk (`synchronous=FULL` for that transaction), so a prompt the
server answered 200 for also survives a power cut. Status changes and history writes may lose their
last transaction on power loss, which at worst re-runs a prompt.
The store is a plain, synchronous object guarded by the caller's lock (`PromptQueue`); it knows rows,
not scheduling. Sensitive extra_data keys (API keys) are never written here.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DB_FILENAME = "comfy-core.db"

# Numbered migrations: index + 1 is the schema version stored in PRAGMA user_version.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE queue (
        prompt_id  TEXT PRIMARY KEY,
        number     REAL NOT NULL,
        item       TEXT NOT NULL,              -- JSON [number, prompt_id, prompt, extra_data, outputs]
        state      TEXT NOT NULL DEFAULT 'pending',   -- 'pending' | 'running'
        attempts   INTEGER NOT NULL DEFAULT 0, -- how many times a worker started it
        created_at REAL NOT NULL
    );
    CREATE TABLE history (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        prompt_id  TEXT NOT NULL UNIQUE,
        entry      TEXT NOT NULL               -- JSON history entry (ComfyUI shape)
    );
    """,
)


@dataclass
class QueueRow:
    item: list[Any]  # [number, prompt_id, prompt, extra_data, outputs]
    state: str
    attempts: int


def _try_lock(path: str) -> Any:
    """An open file holding an exclusive advisory lock on `path`, or None when another process holds it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    handle = open(path, "a+")
    try:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # Windows: no advisory locks; one server per user directory
        return handle
    except OSError:
        handle.close()
        return None
    return handle


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class QueueStore:
    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    @classmethod
    def in_directory(cls, user_directory: str, instance: str | None = None) -> QueueStore:
        """Open `<user>/comfy-core.db`, owned by this process alone (an advisory lock on a side file).

        A second server sharing the user directory (e.g. one per GPU) must not recover and run the first
        one's prompts, so it gets `comfy-core-<instance>.db` instead (instance = its port); RuntimeError
        when that one is taken too.
        """
        names = [DB_FILENAME] + ([f"comfy-core-{instance}.db"] if instance else [])
        for name in names:
            path = os.path.join(user_directory, name)
            lock = _try_lock(path + ".lock")
            if lock is not None:
                store = cls(path)
                store._lock_file = lock
                return store
        raise RuntimeError(f"queue database in {user_directory} is in use by another comfy-core process")

    def close(self) -> None:
        self._db.close()
        lock = getattr(self, "_lock_file", None)
        if lock is not None:
            lock.close()
            self._lock_file = None

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._tx():
                for statement in sql.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number}")

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> QueueStore._Tx:
        return QueueStore._Tx(self._db)

    # queue rows -------------------------------------------------------------------------------
    def add(self, item: list[Any] | tuple[Any, ...]) -> None:
        item = list(item[:5])
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._add(item)
        finally:
            self._db.execute("PRAGMA synchronous=NORMAL")

    def _add(self, item: list[Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO queue (prompt_id, number, item, state, attempts, created_at)"
                " VALUES (?, ?, ?, 'pending', 0, ?)",
                (item[1], float(item[0]), _dumps(item), time.time()),
            )

    def mark_running(self, prompt_id: str) -> int:
        with self._tx() as db:
            db.execute(
                "UPDATE queue SET state='running', attempts=attempts+1 WHERE prompt_id=?", (prompt_id,)
            )
            row = db.execute("SELECT attempts FROM queue WHERE prompt_id=?", (prompt_id,)).fetchone()
        return int(row[0]) if row else 0

    def mark_pending(self, prompt_id: str, uncount: bool = False) -> None:
        """Back to pending; `uncount` also takes back the start (a graceful stop is not a crash)."""
        with self._tx() as db:
            db.execute(
                "UPDATE queue SET state='pending', attempts=MAX(attempts - ?, 0) WHERE prompt_id=?",
                (1 if uncount else 0, prompt_id),
            )

    def remove(self, prompt_ids: list[str]) -> None:
        with self._tx() as db:
            db.executemany("DELETE FROM queue WHERE prompt_id=?", [(p,) for p in prompt_ids])

    def remove_pending(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM queue WHERE state='pending'")

    def queue_rows(self) -> list[QueueRow]:
        rows = self._db.execute(
            "SELECT item, state, attempts FROM queue ORDER BY number, prompt_id"
        ).fetchall()
        return [QueueRow(json.loads(item), state, int(attempts)) for item, state, attempts in rows]

    # history ----------------------------------------------------------------------------------
    def finish(self, prompt_id: str, entry: dict[str, Any], max_history: int) -> None:
        """Move one prompt from the queue to history in a single transaction, keeping the newest N."""
        with self._tx() as db:
            db.execute("DELETE FROM queue WHERE prompt_id=?", (prompt_id,))
            db.execute("DELETE FROM history WHERE prompt_id=?", (prompt_id,))
            db.execute("INSERT INTO history (prompt_id, entry) VALUES (?, ?)", (prompt_id, _dumps(entry)))
            db.execute(
                "DELETE FROM history WHERE seq NOT IN (SELECT seq FROM history ORDER BY seq DESC LIMIT ?)",
                (max_history,),
            )

    def history_items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for prompt_id, entry in self._db.execute("SELECT prompt_id, entry FROM history ORDER BY seq"):
            yield prompt_id, json.loads(entry)

    def delete_history(self, prompt_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM history WHERE prompt_id=?", (prompt_id,))

    def clear_history(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM history")
