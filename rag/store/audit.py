"""Audit store: every answer and patient rating, personal identifiers redacted, in one database (SQLite by default,
PostgreSQL for several replicas); review queue, inspector, CSV and evaluation read it through indexed queries."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
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
log = logging.getLogger("cancer_qa.audit")
UNHELPFUL = "unhelpful"
REVIEW_STATUSES = ("all", UNHELPFUL, NO_ANSWER, URGENT)  # what the staff review queue can show


# names where patients give them: introducing themselves, naming a relative or a clinician, signing off. A name is
# a capitalised word (two at most) that is not one of the words that follow these cues in ordinary sentences; after
# an unmistakable cue ("my name is", "Dr", "nurse") a lower-case word counts too.
_STOP = (r"(?:i|i'm|has|had|have|is|was|were|and|but|so|the|he|she|they|we|it|who|just|also|now|got|gets|said|says|"
         r"will|can|did|does|do|needs|told|thinks|wants|recommended|asked|gave|mentioned|suggested|at|on|in|back|a|an|"
         r"if|when|asap|please|tomorrow|today|here|there|about|for|from|with|to|of|my|our|your|his|her|their|not|"
         r"sorry|scared|worried|afraid|so|very|really|still|going|getting|being|feeling|new|newly|diagnosed|sure|"
         r"wondering|looking|trying|caring|writing|asking|both|all|each|mom|mum|dad|aunt|uncle|doctor|nurse|a)\b")
_CAP = r"(?!" + _STOP + r")[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
_ANY = r"(?!(?i:" + _STOP + r"))[A-Za-z][a-z]{1,19}\b(?:[-'][A-Za-z][a-z]+)?"
_TITLE = r"(?:(?i:dr|doctor|nurse|prof|professor|mr|mrs|ms|miss|sister)\.?\s+)"
_CUES = [
    # introductions: "my name is Rosa Diaz", "name's jake", "call me Bob", "me llamo Carmen Ruiz"
    r"(?i:\bmy name is|\bmy name's|\bname's|\bname is|\bcall me|\bi am called|\bi'm called|\bme llamo|\bmi nombre es)"
    r"\s+" + _TITLE + r"?(" + _ANY + r"(?:\s+" + _CAP + r")?)",
    # "I'm Daniel Okafor", "hi im kevin", "It's Luis again", "I am Helen Whitaker, 71"
    r"(?i:\b(?:i'?m|i am|it'?s|soy))\s+" + _TITLE + r"?(" + _CAP + r"(?:\s+" + _CAP + r")?)",
    r"(?i:^(?:hi|hello|hey)[,!.\s]+(?:i'?m|im|i am)\s+)(" + _ANY + r")",
    # "Priya here", "Yusuf speaking"
    r"(?:^|[,.!]\s*)(" + _CAP + r"(?:\s+" + _CAP + r")?)\s+(?i:here|speaking)\b",
    # a relative or friend: "my wife, Ana Lopez,", "our son oliver", "my dad (Frank)"
    r"(?i:\b(?:my|our)\s+(?:best\s+)?(?:husband|wife|son|daughter|mom|mum|mother|dad|father|brother|sister|partner|"
    r"friend|grandma|grandpa|grandmother|grandfather|gran|aunt|uncle|boyfriend|girlfriend|fianc[eé]e?|niece|nephew|"
    r"cousin|grandson|granddaughter|baby|boy|girl|kid|child|neighbou?r|brother-in-law|sister-in-law|"
    r"mother-in-law|father-in-law|stepson|stepdaughter|wifey|hubby)\b)\s*[,(]?\s*(?:(" + _CAP + r"(?:\s+" + _CAP
    + r")?)|(" + _ANY + r")(?=\s*(?:[,()]|'s\b|\s(?:is|has|was|had|who|and|just|got|will|can|needs|did)\b)))",
    # clinicians and titles: "Dr. Patel", "nurse kelly", "Mr. Chen"
    r"\b" + _TITLE + r"(" + _ANY + r"(?:\s+" + _CAP + r")?)",
    # sign-offs: "thanks, Mary", "- Sarah", "Regards, Tom Smith", "Love, Gran (Edith)"
    r"(?:\s[-–—]\s*|(?i:\b(?:thanks|thank you|thx|regards|best wishes|best|cheers|sincerely|love|from)"
    r")\s*[,!.]?\s*[-–—]?\s*(?:\w+\s*\()?)(" + _ANY + r"(?:\s+" + _CAP + r")?)\)?\s*[.!]*\s*$",
]
_NAME_CUES = [re.compile(c) for c in _CUES]


def redact_names(text: str) -> str:
    """A name given as one ("my name is John Smith", "my husband Tom", "Dr. Patel", "thanks, Mary") becomes
    [name]; measured in benchmarks/bench_redaction.py."""
    def sub(match: re.Match) -> str:
        group = next(i for i in range(1, (match.lastindex or 1) + 1) if match.group(i))
        whole, (start, end) = match.group(0), match.span(group)
        return whole[:start - match.start()] + "[name]" + whole[end - match.start():]

    for cue in _NAME_CUES:
        text = cue.sub(sub, text)
    return text


def redact(text: str) -> str:
    """Replace names given as names, e-mail addresses, dates, phone numbers and long digit runs (record numbers)
    by placeholders."""
    text = redact_names(text)
    text = _EMAIL.sub("[email]", text)
    text = _DATE.sub("[date]", text)
    text = _PHONE.sub("[phone]", text)
    return _DIGITS.sub("[number]", text)


class AuditLog:
    """Answers, ratings and review state in one database (rag/store/database.py): SQLite by default, PostgreSQL
    when a URL is given, so several app replicas share one store. Staff queries are indexed queries, never a
    scan of everything. A write that fails (the server gone) never costs the patient the answer: it is counted,
    and staff see the count."""

    def __init__(self, where: Path | str, manifest_hash: str = "", retention_days: int | None = None,
                 served_by: str = ""):
        from .database import connect, url_for

        where = str(where)
        self.url = where if "://" in where else url_for(None, Path(where))
        self.db = connect(self.url)
        self.manifest_hash = manifest_hash
        self.retention_days = retention_days
        self.served_by = served_by  # which app replica answered (host:port), for operations
        self.unlogged = 0  # answers (and ratings) that could not be written
        self._known_docs: set[str] | None = None
        self._purged_at = 0.0
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
            "served_by": self.served_by,
        }
        self.store(entry)
        return entry

    def store(self, entry: dict[str, Any]) -> bool:
        """Write one answer entry (True), or count it as unlogged (False) when the database fails."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self._insert(entry)
            self._purge_old()
            return True
        except SQLAlchemyError as err:
            with self._lock:
                self.unlogged += 1
            log.warning("audit: answer %s not logged (%s); %d unlogged since start", entry["id"],
                        str(getattr(err, "orig", err)).splitlines()[0], self.unlogged)
            return False

    def _cite(self, conn: Any, entry: dict[str, Any]) -> None:
        """The entry's cited documents, for the indexed document filter (and the documents table, once each)."""
        from sqlalchemy import select

        from .database import cited, documents

        titles = {c.get("doc_id"): c.get("title", "") for c in entry.get("citations") or []}
        for doc in dict.fromkeys(entry.get("doc_ids") or []):
            conn.execute(cited.insert().values(answer_id=entry["id"], doc_id=doc, time=entry["time"]))
            if self._known_docs is None:
                self._known_docs = set(conn.execute(select(documents.c.doc_id)).scalars())
            if doc not in self._known_docs:
                # another replica (or thread) may add the same document at the same moment: insert-or-ignore, so
                # the answer's own write never fails on it
                conn.execute(_insert_or_ignore(conn, documents).values(doc_id=doc, title=titles.get(doc, "")))
                self._known_docs.add(doc)

    def record_feedback(self, answer_id: str, helpful: bool, comment: str = "", max_chars: int = 500) -> dict[str, Any]:
        """A patient's rating of an answer (its latest rating replaces an earlier one). Only the rating, the
        redacted comment and the time are kept: nothing about who gave it."""
        from sqlalchemy import delete
        from sqlalchemy.exc import IntegrityError, SQLAlchemyError

        from .database import feedback

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
        try:
            with self.db.begin() as conn:
                conn.execute(delete(feedback).where(feedback.c.answer_id == answer_id))
                conn.execute(feedback.insert().values(answer_id=answer_id, helpful=helpful, comment=entry["comment"],
                                                      time=entry["time"]))
        except IntegrityError:
            raise FeedbackError("that answer is no longer in the log (it may have been deleted for privacy); "
                                "please ask again") from None
        except SQLAlchemyError:
            with self._lock:
                self.unlogged += 1
            raise FeedbackError("Your rating could not be saved just now; please try again in a minute.") from None
        return entry

    def _purge_old(self) -> None:
        """Answers older than the retention period are deleted (their ratings with them), at most hourly."""
        import time

        if self.retention_days and time.time() - self._purged_at >= 3600:
            self._purged_at = time.time()
            self.purge(self.retention_days)

    def purge(self, days: int) -> int:
        """Delete answers older than `days` days now; how many went."""
        from sqlalchemy import delete, func, select

        from .database import answers, cited, feedback

        cutoff = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat(timespec="seconds")
        with self.db.begin() as conn:
            n = conn.execute(select(func.count()).select_from(answers).where(answers.c.time < cutoff)).scalar() or 0
            old = select(answers.c.id).where(answers.c.time < cutoff)
            conn.execute(delete(feedback).where(feedback.c.answer_id.in_(old)))
            conn.execute(delete(cited).where(cited.c.time < cutoff))
            conn.execute(delete(answers).where(answers.c.time < cutoff))
        return int(n)

    # ---- reading ------------------------------------------------------------------------------------------
    def _query(self, *conditions: Any, newest_first: bool = True, limit: int | None = None,
               rated_only: bool = False) -> list[dict[str, Any]]:
        """Entries with their rating, newest first; rated_only drives the query from the (small) ratings table."""
        from sqlalchemy import and_, select

        from .database import answers, feedback

        joined = (answers.join(feedback, feedback.c.answer_id == answers.c.id) if rated_only
                  else answers.outerjoin(feedback, feedback.c.answer_id == answers.c.id))
        q = select(answers.c.entry, feedback.c.helpful, feedback.c.comment, feedback.c.time).select_from(joined)
        if conditions:
            q = q.where(and_(*conditions))
        q = q.order_by(answers.c.time.desc() if newest_first else answers.c.time, answers.c.id.desc()
                       if newest_first else answers.c.id)
        if limit:
            q = q.limit(limit)
        with self.db.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for entry, helpful, comment, time in rows:
            e = json.loads(entry)
            if helpful is not None:
                e["feedback"] = {"helpful": bool(helpful), "comment": comment, "time": time}
            out.append(e)
        return out

    def entries(self) -> Iterator[dict[str, Any]]:
        """Answer entries, oldest first, each with its latest patient rating (if any) under "feedback"."""
        yield from self._query(newest_first=False)

    def get(self, entry_id: str | None) -> dict[str, Any] | None:
        """One answer by id (the inspector)."""
        from .database import answers

        found = self._query(answers.c.id == (entry_id or "")) if entry_id else []
        return found[0] if found else None

    def search(self, status: str | None = None, text: str = "", since: str | None = None,
               limit: int = 1000) -> list[dict[str, Any]]:
        """Entries newest first, filtered by status, a substring of question/doc ids, and a start date."""
        from sqlalchemy import func, or_

        from .database import answers

        cond = []
        if status and status != "all":
            cond.append(answers.c.status == status)
        if since:
            cond.append(answers.c.time >= since)
        needle = (text or "").lower().strip()
        if needle:
            like = f"%{_escape_like(needle)}%"
            cond.append(or_(func.lower(answers.c.question).like(like, escape="\\"),
                            answers.c.documents.like(like, escape="\\")))
        return self._query(*cond, limit=limit)

    def review_queue(self, status: str = "all", since: str | None = None, until: str | None = None,
                     document: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        """What staff should look at, newest answer first: answers rated unhelpful, no-answer and urgent replies.
        status picks one kind (or "all" of them); since/until are inclusive UTC days (YYYY-MM-DD); document is a
        substring of a cited document's id or title."""
        from sqlalchemy import false, func, or_, select

        from .database import answers, cited, documents, feedback

        if status not in REVIEW_STATUSES:
            raise AuditQueryError(f"status must be one of {', '.join(REVIEW_STATUSES)}, got {status!r}")
        first, last = _day(since, "since"), _day(until, "until")
        unhelpful = feedback.c.helpful == false()
        cond = [{"all": or_(answers.c.review, unhelpful), UNHELPFUL: unhelpful}.get(status, answers.c.status == status)]
        cond += _days(answers.c.time, first, last)
        document = (document or "").lower().strip()
        if document:
            # the filter names documents by part of their id or title: resolved in the small documents table,
            # then an indexed lookup of the answers that cited them
            like = f"%{_escape_like(document)}%"
            matching = select(documents.c.doc_id).where(or_(func.lower(documents.c.doc_id).like(like, escape="\\"),
                                                            func.lower(documents.c.title).like(like, escape="\\")))
            cond.append(answers.c.id.in_(select(cited.c.answer_id).where(cited.c.doc_id.in_(matching))))
        return self._query(*cond, limit=limit, rated_only=status == UNHELPFUL)

    def between(self, first: str | None = None, last: str | None = None) -> list[dict[str, Any]]:
        """Every answer from day `first` to day `last` (inclusive UTC days, YYYY-MM-DD), oldest first."""
        from .database import answers

        cond = _days(answers.c.time, first, last)
        return self._query(*cond, newest_first=False)

    def import_jsonl(self, path: Path) -> tuple[int, int, int]:
        """Move an old JSON-lines log in: (answers added, ratings added, lines skipped: torn, unreadable or
        already present). Ratings follow their answers; the latest rating of an answer wins."""
        from sqlalchemy.exc import IntegrityError

        added = rated = skipped = 0
        ratings: dict[str, dict[str, Any]] = {}
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.endswith("\n") and not line.strip().endswith("}"):
                    skipped += 1
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    skipped += 1 if line.strip() else 0
                    continue
                if not isinstance(obj, dict):
                    skipped += 1
                elif obj.get("kind") == FEEDBACK:
                    ratings[str(obj.get("answer_id"))] = obj
                elif obj.get("id") and obj.get("time"):
                    try:
                        self._insert({**obj, "question": redact(str(obj.get("question", "")))})
                        added += 1
                    except IntegrityError:
                        skipped += 1
                else:
                    skipped += 1
        for answer_id, r in ratings.items():
            try:
                self.record_feedback(answer_id, bool(r.get("helpful")), str(r.get("comment") or ""), 10**6)
                rated += 1
            except FeedbackError:
                skipped += 1
        return added, rated, skipped

    def _insert(self, entry: dict[str, Any]) -> None:
        """One answer row and its cited documents, in one transaction (raises what the database raises)."""
        from .database import answers

        documents = " ".join([*(entry.get("doc_ids") or []), *(c.get("title", "") for c in entry.get("citations") or [])])
        with self.db.begin() as conn:
            conn.execute(answers.insert().values(
                id=str(entry["id"]), time=str(entry["time"]), status=str(entry.get("status", "")),
                review=entry.get("status") in (NO_ANSWER, URGENT), question=str(entry.get("question", "")),
                documents=documents.lower(), entry=json.dumps(entry, ensure_ascii=False)))
            self._cite(conn, entry)


def _days(column: Any, first: str | None, last: str | None) -> list[Any]:
    """Conditions for inclusive UTC days YYYY-MM-DD on an ISO time column."""
    cond = [column >= first] if first else []
    if last:
        cond.append(column < (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat())
    return cond


def _insert_or_ignore(conn: Any, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING in the connection's dialect (PostgreSQL or SQLite)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
