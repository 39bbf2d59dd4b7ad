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
    log = AuditLog(tmp_path / "audit.db", "abc")
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
    log = AuditLog(tmp_path / "audit.db")
    answer = engine.ask("what is melanoma?")
    ids = [log.record(answer)["id"] for _ in range(200)]  # ratings find their answer by this id
    assert len(set(ids)) == 200 and ids == sorted(ids, key=lambda i: i.split("-")[0])


def test_an_old_json_lines_log_is_imported_with_its_ratings_and_a_torn_last_line_skipped(engine, tmp_path):
    old = tmp_path / "audit.jsonl"
    first = {"id": "20261101T000000000000-aaaa", "time": "2026-11-01T00:00:00+00:00", "question": "what is melanoma?",
             "status": "answered", "doc_ids": ["0000028_2-melanoma-treatment-pdq"], "citations": []}
    second = {"id": "20261102T000000000000-bbbb", "time": "2026-11-02T00:00:00+00:00", "question": "how much is parking",
              "status": "no_answer", "doc_ids": [], "citations": []}
    rating = {"kind": "feedback", "answer_id": first["id"], "helpful": False, "comment": "too short", "time": "t"}
    old.write_text("\n".join(json.dumps(x) for x in (first, second, rating)) + '\n{"id": "half-writ')
    log = AuditLog(tmp_path / "audit.db")
    assert log.import_jsonl(old) == (2, 1, 1)
    assert [e["id"] for e in log.search()] == [second["id"], first["id"]]
    assert log.get(first["id"])["feedback"]["comment"] == "too short"
    assert log.import_jsonl(old)[0] == 0  # importing twice adds nothing


def test_csv_export_neutralizes_spreadsheet_formulas():
    csv_text = to_csv([{"time": "t", "status": "answered", "question": "=HYPERLINK(\"x\")", "doc_ids": ["a", "b"]}])
    assert "'=HYPERLINK" in csv_text and "a b" in csv_text


def test_the_log_and_the_inspector_show_which_safety_layer_decided(engine, tmp_path):
    from ui.app import _inspector_html

    log = AuditLog(tmp_path / "audit.db")
    log.record(engine.ask("my husband slumped over at the dinner table and we cant rouse him"))
    log.record(engine.ask("i want to kill myself"))
    by_rule, by_classifier = log.search()
    assert by_rule["safety"]["layer"] == "rule" and by_classifier["safety"]["layer"] == "classifier"
    assert by_classifier["safety"]["score"] >= engine.config.safety_urgent_threshold
    page = _inspector_html(engine, by_classifier)
    assert "decided by the <b>classifier</b> layer" in page and "closest example" in page


# ---- patient feedback: its own line beside the answer it rates ------------------------------------------

def test_feedback_is_linked_to_the_answer_it_rates_and_the_latest_rating_wins(engine, tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    first = log.record(engine.ask("what is melanoma?"))
    second = log.record(engine.ask("how is colon cancer treated"))
    log.record_feedback(first["id"], False, "too technical")
    log.record_feedback(first["id"], True, "clearer on second reading")
    rated, unrated = log.entries()
    assert rated["id"] == first["id"] and unrated["id"] == second["id"]
    assert rated["feedback"]["helpful"] is True and rated["feedback"]["comment"] == "clearer on second reading"
    assert "feedback" not in unrated
    assert [e["id"] for e in log.search()] == [second["id"], first["id"]]  # ratings are not answers


def test_feedback_keeps_only_the_rating_a_redacted_comment_and_the_time(engine, tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    answer = log.record(engine.ask("what is melanoma?"))
    stored = log.record_feedback(answer["id"], False, "  call me on 617-555-0123 or jane@example.org  ")
    assert set(stored) == {"kind", "answer_id", "helpful", "comment", "time"}
    assert stored["comment"] == "call me on [phone] or [email]"
    assert log.get(answer["id"])["feedback"]["comment"] == "call me on [phone] or [email]"


def test_a_comment_over_the_configured_limit_is_refused_and_nothing_is_written(engine, tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    answer = log.record(engine.ask("what is melanoma?"))
    limit = engine.config.feedback_max_chars
    with pytest.raises(FeedbackError, match=f"{limit + 1:,} characters long.*{limit:,} characters or fewer"):
        log.record_feedback(answer["id"], False, "x" * (limit + 1), max_chars=limit)
    assert "feedback" not in log.get(answer["id"])
    log.record_feedback(answer["id"], False, "x" * limit, max_chars=limit)
    assert next(log.entries())["feedback"]["comment"] == "x" * limit


def test_feedback_needs_an_answer_and_a_yes_or_no(tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    with pytest.raises(FeedbackError, match="ask a question first"):
        log.record_feedback("", True)
    with pytest.raises(FeedbackError, match="true or false"):
        log.record_feedback("20261125T000000000000", "no")


def test_a_rating_of_an_answer_no_longer_stored_is_refused_plainly(tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    with pytest.raises(FeedbackError, match="no longer in the log"):
        log.record_feedback("20261125T000000000000-gone", True)


def test_answers_older_than_the_retention_period_are_deleted_with_their_ratings(engine, tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    old = {"id": "20200101T000000000000-old", "time": "2020-01-01T00:00:00+00:00", "question": "q", "status": "answered"}
    log.store(old)
    log.record_feedback(old["id"], False, "x")
    kept = log.record(engine.ask("what is melanoma?"))
    assert log.purge(days=365) == 1
    assert [e["id"] for e in log.entries()] == [kept["id"]]


def test_an_unreachable_database_is_one_clear_line_and_a_failed_write_is_counted_not_raised(engine, tmp_path):
    from rag.errors import DatabaseError

    with pytest.raises(DatabaseError, match="cannot open the audit database.*RAG_DATABASE_URL") as err:
        AuditLog("postgresql://nobody@127.0.0.1:1/none")
    assert "\n" not in str(err.value)
    log = AuditLog(tmp_path / "audit.db")
    log.db.dispose()
    (tmp_path / "audit.db").unlink()
    (tmp_path / "audit.db").mkdir()  # the file is gone and cannot come back: every write fails
    entry = log.record(engine.ask("what is melanoma?"))
    assert entry["status"] == "answered" and log.unlogged == 1


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    from sqlalchemy import text

    from rag.errors import DatabaseError

    log = AuditLog(tmp_path / "audit.db")
    with log.db.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 99"))
    with pytest.raises(DatabaseError, match="schema version 99, newer than"):
        AuditLog(tmp_path / "audit.db")


# ---- the staff review queue ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def queue_log(engine, tmp_path_factory):
    """Five answers: two rated (one unhelpful), one no-answer, one urgent; oldest first."""
    log = AuditLog(tmp_path_factory.mktemp("queue") / "audit.db")
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


@pytest.mark.parametrize("raw,expected", [
    ("My name is John Smith, DOB 03/04/1961, call me at 617-555-0199, what is melanoma?",
     "My name is [name], DOB [date], call me at [phone], what is melanoma?"),
    ("my husband Tom has AML, what is the outlook", "my husband [name] has AML, what is the outlook"),
    ("Dr. Patel said my PSA went up, what does that mean", "Dr. [name] said my PSA went up, what does that mean"),
    ("how is it treated? thanks, Mary", "how is it treated? thanks, [name]"),
    ("my mom is 67 and has Hodgkin lymphoma, is ABVD used in Boston?",
     "my mom is 67 and has Hodgkin lymphoma, is ABVD used in Boston?"),
])
def test_names_given_as_names_are_redacted_and_eponyms_and_drugs_are_not(raw, expected):
    assert redact(raw) == expected


def test_name_redaction_on_the_labelled_set_keeps_its_measured_floor():
    """benchmarks/bench_redaction.py on 160 messages written for it: names removed 0.762, one false redaction."""
    import sys

    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_redaction import DATA, score

    figures = score([json.loads(line) for line in DATA.read_text().splitlines() if line.strip()])["all"]
    assert figures["recall"] >= 0.75 and figures["false_redactions"] <= 2


def test_two_stores_citing_a_new_document_at_the_same_moment_both_log_their_answers(tmp_path):
    """Two replicas (or threads) may both see a document for the first time: neither answer may be lost to it."""
    first, second = AuditLog(tmp_path / "audit.db"), AuditLog(tmp_path / "audit.db")
    for store, i in ((first, 1), (second, 2)):
        store._known_docs = set()  # each believes the document is new
        assert store.store({"id": f"20261201T00000000000{i}-x", "time": "2026-12-01T00:00:00+00:00",
                            "question": f"q{i}", "status": "answered", "doc_ids": ["doc-new"],
                            "citations": [{"doc_id": "doc-new", "title": "New"}]})
    assert len(first.review_queue("all", document="doc-new")) == 0  # answered: not in the queue
    assert len(first.search("all", "doc-new")) == 2 and first.unlogged == second.unlogged == 0
