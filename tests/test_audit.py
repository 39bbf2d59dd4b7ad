import csv
import datetime as dt
import io
import json

import pytest

from rag.store.audit import AuditLog, redact, review_kinds, to_csv
from rag.errors import AuditQueryError, FeedbackError


@pytest.mark.parametrize("raw, expected", [
    ("write to john.smith@mail.com please", "write to [email] please"),
    ("call me at 617-555-0123", "call me at [phone]"),
    ("my scan on 03/14/2025 and on March 3, 2025", "my scan on [date] and on [date]"),
    ("record 00123456 says", "record [number] says"),
    ("fever of 101.5 in my 4 year old", "fever of 101.5 in my 4 year old"),
])
def test_personal_identifiers_are_redacted(raw, expected):
    assert redact(raw) == expected


def test_entries_append_and_read_back_newest_first(engine, tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", "abc")
    log.record(engine.ask("what is melanoma?"))
    log.record(engine.ask("i want to kill myself"))
    entries = log.search()
    assert [e["status"] for e in entries] == ["urgent", "answered"]
    assert entries[1]["citations"][0]["fused_rank"] >= 1 and entries[1]["manifest_hash"] == "abc"
    assert [e["status"] for e in log.search(status="answered")] == ["answered"]
    # the answerability model's view is kept for the inspector; an urgent reply never reached it
    assert entries[1]["answerability"]["probability"] >= entries[1]["answerability"]["threshold"]
    assert entries[0]["answerability"] is None


def test_every_answer_gets_its_own_id_even_within_one_microsecond(engine, tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    answer = engine.ask("what is melanoma?")
    ids = [log.record(answer)["id"] for _ in range(200)]  # ratings find their answer by this id
    assert len(set(ids)) == 200 and ids == sorted(ids, key=lambda i: i.split("-")[0])


def test_a_torn_last_line_from_a_crash_does_not_hide_earlier_lines(engine, tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record(engine.ask("what is melanoma?"))
    with open(path, "a") as fh:
        fh.write('{"id": "half-writ')  # the process died mid-write
    assert len(list(log.entries())) == 1
    log.record(engine.ask("how is colon cancer treated"))  # starts on a fresh line after the torn one
    assert [e["question"] for e in log.entries()] == ["what is melanoma?", "how is colon cancer treated"]


def test_csv_export_neutralizes_spreadsheet_formulas():
    csv_text = to_csv([{"time": "t", "status": "answered", "question": "=HYPERLINK(\"x\")", "doc_ids": ["a", "b"]}])
    assert "'=HYPERLINK" in csv_text and "a b" in csv_text


def test_the_log_and_the_inspector_show_which_safety_layer_decided(engine, tmp_path):
    from ui.app import _inspector_html

    log = AuditLog(tmp_path / "audit.jsonl")
    log.record(engine.ask("my husband slumped over at the dinner table and we cant rouse him"))
    log.record(engine.ask("i want to kill myself"))
    by_rule, by_classifier = log.search()
    assert by_rule["safety"]["layer"] == "rule" and by_classifier["safety"]["layer"] == "classifier"
    assert by_classifier["safety"]["score"] >= engine.config.safety_urgent_threshold
    page = _inspector_html(engine, by_classifier)
    assert "decided by the <b>classifier</b> layer" in page and "closest example" in page


# ---- patient feedback: its own line beside the answer it rates ------------------------------------------

def test_feedback_is_linked_to_the_answer_it_rates_and_the_latest_rating_wins(engine, tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    first = log.record(engine.ask("what is melanoma?"))
    second = log.record(engine.ask("how is colon cancer treated"))
    answers_only = path.read_bytes()
    log.record_feedback(first["id"], False, "too technical")
    log.record_feedback(first["id"], True, "clearer on second reading")
    assert path.read_bytes().startswith(answers_only)  # append-only: the answers' lines are never rewritten
    rated, unrated = log.entries()
    assert rated["id"] == first["id"] and unrated["id"] == second["id"]
    assert rated["feedback"]["helpful"] is True and rated["feedback"]["comment"] == "clearer on second reading"
    assert "feedback" not in unrated
    assert [e["id"] for e in log.search()] == [second["id"], first["id"]]  # ratings are not answers


def test_feedback_keeps_only_the_rating_a_redacted_comment_and_the_time(engine, tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    answer = log.record(engine.ask("what is melanoma?"))
    log.record_feedback(answer["id"], False, "  call me on 617-555-0123 or jane@example.org  ")
    stored = json.loads(path.read_text().splitlines()[-1])
    assert set(stored) == {"kind", "answer_id", "helpful", "comment", "time"}
    assert stored["comment"] == "call me on [phone] or [email]"
    assert stored["kind"] == "feedback" and stored["answer_id"] == answer["id"] and stored["helpful"] is False


def test_a_comment_over_the_configured_limit_is_refused_and_nothing_is_written(engine, tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    answer = log.record(engine.ask("what is melanoma?"))
    limit = engine.config.feedback_max_chars
    before = path.read_bytes()
    with pytest.raises(FeedbackError, match=f"{limit + 1:,} characters long.*{limit:,} characters or fewer"):
        log.record_feedback(answer["id"], False, "x" * (limit + 1), max_chars=limit)
    assert path.read_bytes() == before
    log.record_feedback(answer["id"], False, "x" * limit, max_chars=limit)
    assert next(log.entries())["feedback"]["comment"] == "x" * limit


def test_feedback_needs_an_answer_and_a_yes_or_no(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(FeedbackError, match="ask a question first"):
        log.record_feedback("", True)
    with pytest.raises(FeedbackError, match="true or false"):
        log.record_feedback("20261125T000000000000", "no")


def test_a_torn_line_does_not_lose_or_misattach_feedback(engine, tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    answer = log.record(engine.ask("what is melanoma?"))
    with open(path, "a") as fh:
        fh.write('{"kind": "feedback", "answer_id": "' + answer["id"] + '", "helpful": tr')  # died mid-write
    assert "feedback" not in next(log.entries())
    log.record_feedback(answer["id"], False, "not what I asked")  # starts on a fresh line after the torn one
    assert next(log.entries())["feedback"]["comment"] == "not what I asked"


# ---- the staff review queue ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def queue_log(engine, tmp_path_factory):
    """Five answers: two rated (one unhelpful), one no-answer, one urgent; oldest first."""
    log = AuditLog(tmp_path_factory.mktemp("queue") / "audit.jsonl")
    ids = {name: log.record(engine.ask(question))["id"] for name, question in [
        ("melanoma", "what is melanoma?"),
        ("off_topic", "what is the capital of australia"),
        ("urgent", "i want to kill myself"),
        ("colon", "how is colon cancer treated"),
        ("myeloma", "what is daratumumab?"),
    ]}
    log.record_feedback(ids["colon"], False, "=HYPERLINK(\"http://x\") it did not say which drugs")
    log.record_feedback(ids["melanoma"], True)
    return log, ids


def test_the_review_queue_holds_unhelpful_no_answer_and_urgent_replies_newest_first(queue_log):
    log, ids = queue_log
    queue = log.review_queue()
    assert [e["id"] for e in queue] == [ids["colon"], ids["urgent"], ids["off_topic"]]
    assert [review_kinds(e) for e in queue] == [["unhelpful"], ["urgent"], ["no_answer"]]


@pytest.mark.parametrize("status, expected", [("unhelpful", ["colon"]), ("no_answer", ["off_topic"]),
                                              ("urgent", ["urgent"])])
def test_the_review_queue_filters_by_status(queue_log, status, expected):
    log, ids = queue_log
    assert [e["id"] for e in log.review_queue(status)] == [ids[name] for name in expected]


def test_the_review_queue_filters_by_cited_document_id_or_title(queue_log):
    log, ids = queue_log
    assert [e["id"] for e in log.review_queue(document="Colon Cancer")] == [ids["colon"]]
    assert [e["id"] for e in log.review_queue(document="0000037")] == [ids["colon"]]
    assert log.review_queue(document="melanoma") == []  # the melanoma answer was rated helpful


def test_the_review_queue_filters_by_day_both_ends_inclusive(queue_log):
    log, _ = queue_log
    today = dt.datetime.now(dt.timezone.utc).date()
    day = dt.timedelta(days=1)
    assert len(log.review_queue(since=str(today), until=str(today))) == 3
    assert log.review_queue(since=str(today + day)) == []
    assert log.review_queue(until=str(today - day)) == []


def test_the_review_queue_rejects_bad_filters_with_a_message(queue_log):
    log, _ = queue_log
    with pytest.raises(AuditQueryError, match="since: expected a date written YYYY-MM-DD, got '25/11/2026'"):
        log.review_queue(since="25/11/2026")
    with pytest.raises(AuditQueryError, match="status must be one of all, unhelpful, no_answer, urgent"):
        log.review_queue("answered")


def test_the_review_queue_csv_has_the_rating_and_neutralizes_formulas(queue_log):
    log, ids = queue_log
    rows = list(csv.DictReader(io.StringIO(to_csv(log.review_queue()))))
    assert [r["status"] for r in rows] == ["answered", "urgent", "no_answer"]
    assert rows[0]["helpful"] == "no" and rows[0]["comment"].startswith("'=HYPERLINK")
    assert rows[1]["helpful"] == rows[1]["comment"] == ""
