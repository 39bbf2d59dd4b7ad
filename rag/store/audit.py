"""Audit log: one JSON line per answer (and per patient rating of one), personal identifiers redacted;
append-only and crash-safe."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any, Iterator

from .. import __version__
from ..answer.compose import NO_ANSWER, URGENT, Answer
from ..errors import AuditQueryError, FeedbackError

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE = re.compile(
    rf"\b(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}|"
    rf"{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+\d{{4}})?)\b",
    re.I)
_PHONE = re.compile(r"(?<!\w)(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,4})[\s.-]\d{3,4}[\s.-]?\d{3,4}(?!\w)")
_DIGITS = re.compile(r"\b\d{5,}\b")
FEEDBACK = "feedback"
UNHELPFUL = "unhelpful"
REVIEW_STATUSES = ("all", UNHELPFUL, NO_ANSWER, URGENT)  # what the staff review queue can show


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
            # the time orders ids; the random tail keeps two answers of one microsecond apart (ratings link by id)
            "id": dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + secrets.token_hex(4),
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "question": redact(answer.question),
            "searched_for": redact(answer.searched_for) if answer.searched_for else None,
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
            "answerability": answer.answerability,  # the model's signals, P(answerable) and its cut
            "follow_up": history_used,
            "latency_ms": round(answer.timings_ms.get("total", 0.0), 2),
            "manifest_hash": self.manifest_hash,
            "app_version": __version__,
        }
        self._append(entry)
        return entry

    def record_feedback(self, answer_id: str, helpful: bool, comment: str = "", max_chars: int = 500) -> dict[str, Any]:
        """A patient's rating, written as its own line beside the answer it rates (linked by the answer's id),
        never into it: the log stays append-only, and readers merge the latest rating onto its answer.
        Only the rating, the redacted comment and the time are kept: nothing about who gave it."""
        if not answer_id:
            raise FeedbackError("there is no answer to rate yet: ask a question first")
        if not isinstance(helpful, bool):
            raise FeedbackError(f"helpful must be true or false, got {helpful!r}")
        comment = (comment or "").strip()
        if len(comment) > max_chars:
            raise FeedbackError(f"Your comment is {len(comment):,} characters long; please shorten it to "
                                f"{max_chars:,} characters or fewer.")
        entry = {"kind": FEEDBACK, "answer_id": answer_id, "helpful": helpful, "comment": redact(comment),
                 "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        self._append(entry)
        return entry

    def _append(self, entry: dict[str, Any]) -> None:
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

    def _lines(self) -> Iterator[dict[str, Any]]:
        """Every complete line's object, oldest first (a torn last line from a crash is skipped)."""
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict):
                    yield obj

    def entries(self) -> Iterator[dict[str, Any]]:
        """Answer entries, oldest first, each with its latest patient rating (if any) under "feedback"."""
        answers, ratings = [], {}
        for obj in self._lines():
            if obj.get("kind") == FEEDBACK:
                ratings[obj.get("answer_id")] = obj  # a later rating of the same answer replaces an earlier one
            else:
                answers.append(obj)
        for e in answers:
            rating = ratings.get(e.get("id"))
            yield {**e, "feedback": {k: rating.get(k) for k in ("helpful", "comment", "time")}} if rating else e

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

    def review_queue(self, status: str = "all", since: str | None = None, until: str | None = None,
                     document: str = "") -> list[dict[str, Any]]:
        """What staff should look at, newest answer first: answers rated unhelpful, no-answer and urgent replies.
        status picks one kind (or "all" of them); since/until are inclusive UTC days (YYYY-MM-DD); document is a
        substring of a cited document's id or title."""
        if status not in REVIEW_STATUSES:
            raise AuditQueryError(f"status must be one of {', '.join(REVIEW_STATUSES)}, got {status!r}")
        first, last = _day(since, "since"), _day(until, "until")
        document = (document or "").lower().strip()
        out = []
        for e in self.entries():
            kinds = review_kinds(e)
            day = e.get("time", "")[:10]
            if not kinds or (status != "all" and status not in kinds):
                continue
            if (first and day < first) or (last and day > last) or (document and not _cites(e, document)):
                continue
            out.append(e)
        return out[::-1]


def review_kinds(entry: dict[str, Any]) -> list[str]:
    """Why an answer is in the review queue (empty: it is not)."""
    kinds = [UNHELPFUL] if (entry.get("feedback") or {}).get("helpful") is False else []
    if entry.get("status") in (NO_ANSWER, URGENT):
        kinds.append(entry["status"])
    return kinds


def _day(value: str | None, name: str) -> str | None:
    if not value or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise AuditQueryError(f"{name}: expected a date written YYYY-MM-DD, got {value.strip()!r}") from None


def _cites(entry: dict[str, Any], needle: str) -> bool:
    names = list(entry.get("doc_ids") or []) + [c.get("title", "") for c in entry.get("citations") or []]
    return any(needle in str(name).lower() for name in names)


CSV_FIELDS = ["time", "status", "reason", "safety_layer", "safety_score", "question", "helpful", "comment", "doc_ids",
              "passage_ids", "latency_ms", "manifest_hash", "app_version"]


def to_csv(entries: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    for e in entries:
        seen = e.get("safety") or {}
        rating = e.get("feedback") or {}
        e = {**e, "safety_layer": seen.get("layer") or "", "safety_score": "" if seen.get("score") is None else seen["score"],
             "helpful": helpful_text(rating.get("helpful")), "comment": rating.get("comment") or ""}
        row = [" ".join(e.get(k) or []) if isinstance(e.get(k), list) else e.get(k, "") for k in CSV_FIELDS]
        # a cell starting with = + - @ (or a tab / carriage return before one) is a formula to spreadsheet
        # programs: neutralize it (an empty cell is left empty)
        writer.writerow(["'" + str(v) if str(v)[:1] and str(v)[:1] in "=+-@\t\r" else v for v in row])
    return buf.getvalue()


def helpful_text(helpful: bool | None) -> str:
    return "yes" if helpful is True else "no" if helpful is False else ""
