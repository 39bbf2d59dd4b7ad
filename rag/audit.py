"""Audit log: one JSON line per answer, personal identifiers redacted; append-only and crash-safe."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Iterator

from . import __version__
from .answer import Answer

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE = re.compile(
    rf"\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|"
    rf"{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+\d{{4}})?)\b",
    re.I)
_PHONE = re.compile(r"(?<!\w)(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,4})[\s.-]\d{3,4}[\s.-]?\d{3,4}(?!\w)")
_DIGITS = re.compile(r"\b\d{5,}\b")


def redact(text: str) -> str:
    """Replace e-mail addresses, dates, phone numbers and long digit runs (record numbers) by placeholders."""
    text = _EMAIL.sub("[email]", text)
    text = _DATE.sub("[date]", text)
    text = _PHONE.sub("[phone]", text)
    return _DIGITS.sub("[number]", text)


class AuditLog:
    """Each entry is written as one complete line with a single write + fsync, so a crash can at worst leave
    a partial last line, which readers skip; earlier lines are never touched."""

    def __init__(self, path: Path | str, manifest_hash: str = ""):
        self.path = Path(path)
        self.manifest_hash = manifest_hash
        self._lock = threading.Lock()

    def record(self, answer: Answer, history_used: bool = False) -> dict[str, Any]:
        rank_of = {h.chunk.passage_id: h for h in answer.hits}
        entry = {
            "id": dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f"),
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "question": redact(answer.question),
            "status": answer.status,
            "reason": answer.reason,
            "answer": redact(answer.answer) if answer.status != "answered" else answer.answer,
            "doc_ids": [c.doc_id for c in answer.citations],
            "passage_ids": [c.passage_id for c in answer.citations],
            "citations": [{
                "n": c.n, "doc_id": c.doc_id, "passage_id": c.passage_id, "title": c.title, "url": c.url,
                "section": c.section, "sentences": c.quote.split(" … "),
                "dense": round(rank_of[c.passage_id].dense, 4) if c.passage_id in rank_of else None,
                "lexical": round(rank_of[c.passage_id].lexical, 4) if c.passage_id in rank_of else None,
                "dense_rank": rank_of[c.passage_id].dense_rank if c.passage_id in rank_of else None,
                "lexical_rank": rank_of[c.passage_id].lexical_rank if c.passage_id in rank_of else None,
                "fused_rank": rank_of[c.passage_id].rank if c.passage_id in rank_of else None,
            } for c in answer.citations],
            "safety": answer.safety,  # which safety layer decided (rule / classifier / none) and the scores
            "follow_up": history_used,
            "latency_ms": round(answer.timings_ms.get("total", 0.0), 2),
            "manifest_hash": self.manifest_hash,
            "app_version": __version__,
        }
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn line from a crash: start a fresh line
                    line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def entries(self) -> Iterator[dict[str, Any]]:
        """Complete entries, oldest first (a torn last line from a crash is skipped)."""
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def search(self, status: str | None = None, text: str = "", since: str | None = None) -> list[dict[str, Any]]:
        """Entries newest first, filtered by status, a substring of question/doc ids, and a start date."""
        text = text.lower().strip()
        out = []
        for e in self.entries():
            if status and status != "all" and e.get("status") != status:
                continue
            if since and e.get("time", "") < since:
                continue
            if text and text not in (e.get("question", "") + " " + " ".join(e.get("doc_ids", []))).lower():
                continue
            out.append(e)
        return out[::-1]


CSV_FIELDS = ["time", "status", "reason", "safety_layer", "safety_score", "question", "doc_ids", "passage_ids", "latency_ms",
              "manifest_hash", "app_version"]


def to_csv(entries: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    for e in entries:
        seen = e.get("safety") or {}
        e = {**e, "safety_layer": seen.get("layer") or "", "safety_score": "" if seen.get("score") is None else seen["score"]}
        row = [" ".join(e.get(k) or []) if isinstance(e.get(k), list) else e.get(k, "") for k in CSV_FIELDS]
        # a cell starting with = + - @ is a formula to spreadsheet programs: neutralize it
        writer.writerow(["'" + str(v) if str(v)[:1] in "=+-@" else v for v in row])
    return buf.getvalue()
