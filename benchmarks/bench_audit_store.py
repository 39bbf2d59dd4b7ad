"""Staff queries on an audit store of a million answers, SQLite and PostgreSQL, in one run (CPU flags printed).

    python benchmarks/bench_audit_store.py [--answers 1000000]

Fills each store with synthetic answers (a tenth no-answer or urgent, a twentieth rated unhelpful, over 365 days,
citing one of 120 documents), then times, as staff use them: the review queue (all, unhelpful, one week, one cited
document), the inspector's lookup by id, the audit log's newest answers, and a CSV export of one day. Target: each
≤ 200 ms."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_safety import cpu_model  # noqa: E402
from rag.store.audit import AuditLog, to_csv  # noqa: E402
from rag.store.database import answers, cited, documents, feedback  # noqa: E402
from servers import fresh_database, postgres_server  # noqa: E402

DOCS = [f"00000{i:02d}_1-doc-{i}-treatment-pdq" for i in range(120)]


def fill(store: AuditLog, n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    batch, rated, cites, some_id = [], [], [], ""
    with store.db.begin() as conn:
        conn.execute(documents.insert(), [{"doc_id": d, "title": f"Document {i} treatment"} for i, d in enumerate(DOCS)])
    for i in range(n):
        t = (start + dt.timedelta(seconds=int(i * 365 * 86400 / n))).isoformat(timespec="seconds")
        status = "answered" if rng.random() > 0.1 else rng.choice(["no_answer", "urgent"])
        doc = rng.choice(DOCS) if status == "answered" else ""
        aid = f"{t[:19].replace('-', '').replace(':', '')}{i:07d}-{i:08x}"
        entry = {"id": aid, "time": t, "question": f"question {i} about {doc[:20]}", "status": status, "reason": "",
                 "answer": "…", "doc_ids": [doc] if doc else [], "passage_ids": [], "citations": [], "safety": None,
                 "latency_ms": 9.0, "manifest_hash": "bench", "app_version": "bench"}
        batch.append({"id": aid, "time": t, "status": status, "review": status != "answered",
                      "question": entry["question"], "documents": doc, "entry": json.dumps(entry)})
        if doc:
            cites.append({"answer_id": aid, "doc_id": doc, "time": t})
        if rng.random() < 0.05:
            rated.append({"answer_id": aid, "helpful": False, "comment": "not clear", "time": t})
        if i == n // 2:
            some_id = aid
        if len(batch) == 20_000:
            _flush(store, batch, rated, cites)
    _flush(store, batch, rated, cites)
    with store.db.begin() as conn:  # fresh statistics for the planner, as after a day of traffic
        conn.exec_driver_sql("ANALYZE")
    return some_id


def _flush(store: AuditLog, batch: list, rated: list, cites: list) -> None:
    with store.db.begin() as conn:
        if batch:
            conn.execute(answers.insert(), batch)
        if rated:
            conn.execute(feedback.insert(), rated)
        if cites:
            conn.execute(cited.insert(), cites)
    for rows in (batch, rated, cites):
        rows.clear()


def timed(fn, repeat: int = 5) -> float:
    fn()  # warm
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return statistics.median(runs)


def measure(store: AuditLog, some_id: str) -> dict[str, float]:
    return {
        "review queue, all (first 1,000)": timed(lambda: store.review_queue("all")),
        "review queue, unhelpful": timed(lambda: store.review_queue("unhelpful")),
        "review queue, one week": timed(lambda: store.review_queue("all", "2026-06-01", "2026-06-07")),
        "review queue, one cited document": timed(lambda: store.review_queue("all", document=DOCS[7])),
        "review queue, documents by title word": timed(lambda: store.review_queue("all", document="document 7")),
        "inspector: one answer by id": timed(lambda: store.get(some_id)),
        "audit log: newest 1,000": timed(lambda: store.search()),
        "CSV export of one day": timed(lambda: to_csv(store.between("2026-06-01", "2026-06-01"))),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--answers", type=int, default=1_000_000)
    args = ap.parse_args()
    print(f"CPU: {cpu_model()}")
    results = {}
    work = Path(tempfile.mkdtemp(prefix="rag-bench-store-"))
    sqlite = AuditLog(work / "audit.db")
    t = time.perf_counter()
    some = fill(sqlite, args.answers)
    print(f"SQLite filled with {args.answers:,} answers in {time.perf_counter() - t:.0f} s", flush=True)
    results["SQLite"] = measure(sqlite, some)
    with postgres_server() as server:
        pg = AuditLog(fresh_database(server, "bench"))
        t = time.perf_counter()
        some = fill(pg, args.answers)
        print(f"PostgreSQL filled with {args.answers:,} answers in {time.perf_counter() - t:.0f} s", flush=True)
        results["PostgreSQL"] = measure(pg, some)
    print(f"\n| query ({args.answers:,} answers) | SQLite ms | PostgreSQL ms |")
    print("|---|---:|---:|")
    for q in results["SQLite"]:
        print(f"| {q} | {results['SQLite'][q]:.1f} | {results['PostgreSQL'][q]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
