import pytest

from rag.audit import AuditLog, redact, to_csv


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
