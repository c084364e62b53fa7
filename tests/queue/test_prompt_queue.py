from __future__ import annotations

import sqlite3

from comfy_core.queue import PromptQueue, QueueStore
from comfy_core.queue.store import MIGRATIONS


def item(number, pid, sensitive=None):
    return (
        number,
        pid,
        {"1": {"class_type": "X", "inputs": {}}},
        {"client_id": "c", "create_time": number},
        ["1"],
        sensitive or {},
    )


def finish(q, taken, ok=True):
    status = {
        "status_str": "success" if ok else "error",
        "completed": ok,
        "messages": [["execution_start", {"prompt_id": taken[0][1], "timestamp": 1}]],
    }
    q.task_done(taken[1], {"outputs": {"1": {"images": []}}, "meta": {}}, status)


def test_priority_order_and_ties(tmp_path):
    q = PromptQueue(QueueStore(str(tmp_path / "q.db")))
    q.put(item(2, "b"))
    q.put(item(1, "z"))
    q.put(item(2, "a"))
    q.put(item(-3, "front"))
    order = [q.get(timeout=0)[0][1] for _ in range(4)]
    assert order == ["front", "z", "a", "b"]
    assert q.get(timeout=0) is None


def test_pending_survives_reopen_and_sensitive_is_not_stored(tmp_path):
    path = str(tmp_path / "q.db")
    q = PromptQueue(QueueStore(path))
    q.put(item(0, "p0", {"api_key_comfy_org": "SECRET"}))
    q.put(item(1, "p1"))
    q.store.close()
    raw = open(path, "rb").read() + (
        open(path + "-wal", "rb").read() if (tmp_path / "q.db-wal").exists() else b""
    )
    assert b"SECRET" not in raw
    q2 = PromptQueue(QueueStore(path))
    running, pending = q2.get_current_queue()
    assert running == [] and [p[1] for p in pending] == ["p0", "p1"]
    assert all(len(p) == 5 for p in pending)
    assert q2.next_number() == 2


def test_crash_rule_requeue_once_then_fail(tmp_path):
    path = str(tmp_path / "q.db")
    q = PromptQueue(QueueStore(path))
    q.put(item(0, "crashy"))
    q.put(item(1, "after"))
    assert q.get(timeout=0)[0][1] == "crashy"  # running when the process "dies"
    q.store.close()

    q2 = PromptQueue(QueueStore(path))
    assert q2.recovered == ["crashy"] and q2.failed_by_crash == []
    assert q2.get(timeout=0)[0][1] == "crashy"  # re-queued before newer prompts
    q2.store.close()

    q3 = PromptQueue(QueueStore(path))
    assert q3.failed_by_crash == ["crashy"]
    entry = q3.get_history("crashy")["crashy"]
    assert entry["status"]["status_str"] == "error"
    assert entry["status"]["messages"][0][1]["exception_type"] == "ServerCrashed"
    assert [p[1] for p in q3.get_current_queue()[1]] == ["after"]
    job = q3.get_job("crashy")
    assert job["status"] == "failed"


def test_graceful_requeue_does_not_count_as_crash(tmp_path):
    path = str(tmp_path / "q.db")
    q = PromptQueue(QueueStore(path))
    q.put(item(0, "p"))
    for _ in range(3):
        taken = q.get(timeout=0)
        q.requeue(taken[1])
    q.store.close()
    q2 = PromptQueue(QueueStore(path))
    assert q2.failed_by_crash == [] and [p[1] for p in q2.get_current_queue()[1]] == ["p"]


def test_task_done_writes_history_shape_and_persists(tmp_path):
    path = str(tmp_path / "q.db")
    q = PromptQueue(QueueStore(path))
    q.put(item(0, "p", {"auth_token_comfy_org": "tok"}))
    taken = q.get(timeout=0)
    assert taken[0][5] == {"auth_token_comfy_org": "tok"}
    finish(q, taken)
    assert q.get_tasks_remaining() == 0
    q.store.close()
    h = PromptQueue(QueueStore(path)).get_history()
    entry = h["p"]
    assert set(entry) == {"prompt", "outputs", "status", "meta"}
    assert len(entry["prompt"]) == 5 and entry["prompt"][1] == "p"
    assert "auth_token_comfy_org" not in entry["prompt"][3]
    assert entry["status"]["status_str"] == "success" and entry["outputs"] == {"1": {"images": []}}


def test_history_window_semantics(tmp_path):
    q = PromptQueue(QueueStore(str(tmp_path / "q.db")))
    for i in range(6):
        q.put(item(i, f"p{i}"))
        finish(q, q.get(timeout=0))
    assert list(q.get_history(max_items=2)) == ["p4", "p5"]
    assert list(q.get_history(offset=1, max_items=2)) == ["p1", "p2"]
    assert list(q.get_history(offset=4)) == ["p4", "p5"]
    assert list(q.get_history()) == [f"p{i}" for i in range(6)]
    assert q.get_history("nope") == {}
    q.delete_history_item("p0")
    assert "p0" not in q.get_history()
    q.wipe_history()
    assert q.get_history() == {}


def test_history_cap_drops_oldest_in_memory_and_db(tmp_path):
    path = str(tmp_path / "q.db")
    q = PromptQueue(QueueStore(path), max_history=3)
    for i in range(5):
        q.put(item(i, f"p{i}"))
        finish(q, q.get(timeout=0))
    assert list(q.get_history()) == ["p2", "p3", "p4"]
    q.store.close()
    assert list(PromptQueue(QueueStore(path), max_history=3).get_history()) == ["p2", "p3", "p4"]


def test_delete_and_wipe_queue_notify(tmp_path):
    changes = []
    q = PromptQueue(QueueStore(str(tmp_path / "q.db")), on_change=lambda: changes.append(1))
    for i in range(3):
        q.put(item(i, f"p{i}"))
    assert q.delete_queue_item(lambda it: it[1] == "p1") is True
    assert q.delete_queue_item(lambda it: it[1] == "zz") is False
    assert [p[1] for p in q.get_current_queue()[1]] == ["p0", "p2"]
    q.wipe_queue()
    assert q.get_tasks_remaining() == 0
    assert len(changes) == 5


def test_flags_wake_worker(tmp_path):
    q = PromptQueue(QueueStore(str(tmp_path / "q.db")))
    q.set_flag("free_memory", True)
    assert q.get(timeout=5) is None
    assert q.get_flags() == {"free_memory": True}
    assert q.get_flags() == {}


def test_schema_is_migrated_and_wal(tmp_path):
    path = str(tmp_path / "q.db")
    store = QueueStore(path)
    assert store.schema_version == len(MIGRATIONS)
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    QueueStore(path).close()  # reopening does not re-run migrations


def test_second_process_gets_its_own_database(tmp_path):
    import subprocess
    import sys

    first = QueueStore.in_directory(str(tmp_path), instance="8188")
    assert first.path.endswith("comfy-core.db")
    code = (
        "import sys; from comfy_core.queue import QueueStore\n"
        "s = QueueStore.in_directory(sys.argv[1], instance='8189'); print(s.path)\n"
        "try:\n    QueueStore.in_directory(sys.argv[1])\nexcept RuntimeError: print('refused')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == [str(tmp_path / "comfy-core-8189.db"), "refused"], out.stderr
    first.close()
