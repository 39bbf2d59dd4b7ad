"""The app over HTTP, as programs and browsers reach it (a live server on loopback)."""
import json
import urllib.error
import urllib.request

import pytest
from gradio_client import Client

CONTRACT = {"question", "status", "answer", "sentences", "citations", "searched_for", "timings_ms"}


@pytest.fixture(scope="module")
def client(live_app):
    url, _ = live_app
    return Client(url + "/", verbose=False)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def test_the_public_api_is_only_ask(client):
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/ask"]


def test_ask_returns_the_same_json_as_the_cli(client):
    out = client.predict("what is daratumumab?", api_name="/ask")
    assert set(out) == CONTRACT and out["status"] == "answered"
    assert out["citations"][0]["doc_id"] == "000_33357ef47611650a"


def test_a_follow_up_uses_the_conversation(client):
    out = client.predict("what are its side effects?", ["what is daratumumab?"], api_name="/ask")
    assert out["status"] == "answered" and out["citations"][0]["doc_id"] == "000_33357ef47611650a"


def test_no_answer_and_urgent_over_the_api(client):
    assert client.predict("what is the capital of australia", api_name="/ask")["status"] == "no_answer"
    urgent = client.predict("i took all my pills at once", api_name="/ask")
    assert urgent["status"] == "urgent" and "988" in urgent["answer"]


def test_an_over_long_question_gets_a_polite_message(client):
    out = client.predict("please help " * 200, api_name="/ask")
    assert out["status"] == "no_answer" and "1,000 characters" in out["answer"]


def test_every_answer_is_audited_with_identifiers_redacted(client, live_app):
    _, cfg = live_app
    client.predict("my email is jane@example.org and MRN 123456789, what is melanoma?", api_name="/ask")
    from rag.store.audit import AuditLog

    entry = AuditLog(cfg.audit_log).search(limit=1)[0]
    assert "jane@example.org" not in json.dumps(entry) and "123456789" not in json.dumps(entry)
    assert "[email]" in entry["question"] and "[number]" in entry["question"]
    assert entry["status"] == "answered" and entry["doc_ids"] and entry["passage_ids"]
    assert entry["manifest_hash"] and entry["app_version"]


def test_the_staff_console_refuses_without_login(live_app):
    url, _ = live_app
    with pytest.raises(Exception, match="(?i)login|credentials|auth"):
        Client(url + "/staff/", verbose=False)
    code, body = get(url + "/staff/gradio_api/info")
    assert code in (401, 403) or "/library" not in body


def test_the_patient_page_exposes_no_staff_data(client, live_app):
    url, _ = live_app
    client.predict("my email is leak-check@example.org, what is melanoma?", api_name="/ask")
    for path in ("/", "/config", "/gradio_api/info"):
        code, body = get(url + path)
        assert "leak-check" not in body and "[email]" not in body and "audit" not in body.lower()
        assert "/library" not in body and "/log_rows" not in body


def test_staff_with_the_password_see_library_and_log(live_app, client):
    url, cfg = live_app
    client.predict("how is colon cancer treated", api_name="/ask")
    staff = Client(url + "/staff/", auth=(cfg.staff_user, cfg.staff_password), verbose=False)
    library = staff.predict("", api_name="/library")
    assert any("Colon Cancer" in str(row) for row in library["data"])
    rows = staff.predict("all", "colon", "", api_name="/log_rows")
    assert rows["data"] and "colon" in str(rows["data"][0]).lower()


def test_without_a_password_the_staff_console_is_disabled(config, engine):
    from fastapi.testclient import TestClient

    from ui.app import create_app

    app = create_app(config.replace(staff_password=None, staff_password_file=None), engine)
    resp = TestClient(app).get("/staff")
    assert resp.status_code == 404 and "disabled" in resp.text



# ---- patient feedback (private events: tested through the functions they call) --------------------------

def test_feedback_reaches_the_answer_it_rates_in_a_longer_conversation(engine, tmp_path):
    from rag.store.audit import AuditLog
    from ui.app import chat_turn, rate_answer

    audit = AuditLog(tmp_path / "audit.db")
    _, chat, asked, ids = chat_turn(engine, audit, "what is melanoma?", [], [], {})
    _, chat, asked, ids = chat_turn(engine, audit, "what is the capital of australia", chat, asked, ids)
    first, second = [e["id"] for e in audit.entries()]
    assert ids == {1: first, 3: second}  # each answer's place in the chat -> its audit entry
    assert "saved" in rate_answer(audit, 500, ids, False, "my number is 617-555-0123")  # the latest answer
    assert "saved" in rate_answer(audit, 500, ids, True, "", index=1)  # an earlier one, by its place
    latest, earlier = audit.search()
    assert latest["id"] == second and latest["feedback"]["helpful"] is False
    assert latest["feedback"]["comment"] == "my number is [phone]"
    assert earlier["id"] == first and earlier["feedback"]["helpful"] is True and earlier["feedback"]["comment"] == ""


def test_a_refused_rating_is_explained_to_the_patient_and_not_stored(engine, tmp_path):
    from rag.store.audit import AuditLog
    from ui.app import chat_turn, rate_answer

    audit = AuditLog(tmp_path / "audit.db")
    assert "ask a question first" in rate_answer(audit, 500, {}, True, "")
    _, _, _, ids = chat_turn(engine, audit, "what is melanoma?", [], [], {})
    assert "choose **Yes** or **No** first" in rate_answer(audit, 500, ids, None, "a comment before a rating")
    limit = engine.config.feedback_max_chars
    assert f"{limit:,} characters or fewer" in rate_answer(audit, limit, ids, False, "x" * (limit + 1))
    assert "feedback" not in next(audit.entries())


# ---- the staff review queue over HTTP -------------------------------------------------------------------

def test_staff_see_no_answer_replies_in_the_review_queue_and_export_exactly_those_rows(live_app, client):
    url, cfg = live_app
    client.predict("what is the capital of mongolia", api_name="/ask")
    staff = Client(url + "/staff/", auth=(cfg.staff_user, cfg.staff_password), verbose=False)
    rows = staff.predict("no_answer", "", "", "", api_name="/queue")["data"]
    assert rows and rows[0][1] == "no_answer" and "mongolia" in rows[0][2]
    shown = staff.predict(api_name="/download_queue")  # the File box, now shown, with the CSV in it
    exported = open(shown["value"] if isinstance(shown, dict) else shown, encoding="utf-8").read().splitlines()
    assert exported[0].startswith("time,status,") and "helpful,comment" in exported[0]
    assert len(exported) == len(rows) + 1 and "mongolia" in exported[1]


def test_a_bad_review_queue_date_gets_an_actionable_message(live_app):
    url, cfg = live_app
    staff = Client(url + "/staff/", auth=(cfg.staff_user, cfg.staff_password), verbose=False)
    with pytest.raises(Exception, match="since: expected a date written YYYY-MM-DD"):
        staff.predict("all", "last week", "", "", api_name="/queue")


def test_the_inspector_names_a_status_reason_only_when_there_is_one(engine):
    from ui.app import _inspector_html

    entry = {"question": "what is melanoma?", "status": "answered", "reason": "", "time": "2026-11-26T10:00:00+00:00"}
    assert "<b>Status:</b> answered · " in _inspector_html(engine, entry)
    declined = _inspector_html(engine, {**entry, "status": "no_answer", "reason": "out_of_scope"})
    assert "<b>Status:</b> no_answer (out_of_scope) · " in declined


def test_the_inspector_shows_why_an_answer_was_judged_answerable(engine):
    """Staff see P(answerable) against the cut and every signal the model read, from the audit entry."""
    from ui.app import _inspector_html

    ans = engine.ask("how is colon cancer treated")
    judged = ans.answerability
    shown = _inspector_html(engine, {"question": ans.question, "status": ans.status, "reason": "", "time": "t",
                                     "answerability": judged})
    assert f"P(answerable) {judged['probability']:.3f} ≥ cut" in shown
    assert "sentence_top" in shown and "coverage" in shown
    assert "not judged" in _inspector_html(engine, {"question": "hi", "status": "no_answer", "time": "t"})


# ---- POST /v1/ask: the JSON endpoint for a clinic's portal --------------------------------------------------
def post(url: str, body: bytes) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_json_endpoint_returns_exactly_the_ask_contract_and_is_audited(live_app):
    from rag.store.audit import AuditLog

    url, cfg = live_app
    code, out = post(url + "/v1/ask", json.dumps({"question": "what are its side effects?",
                                                  "history": ["what is daratumumab?"]}).encode())
    assert code == 200 and set(out) == CONTRACT and out["status"] == "answered"
    assert "daratumumab" in out["citations"][0]["doc_id"] or "33357" in out["citations"][0]["doc_id"]
    logged = AuditLog(cfg.audit_log).search(limit=1)[0]
    assert logged["question"] == "what are its side effects?" and logged["follow_up"] is True


@pytest.mark.parametrize("body,code,says", [
    (b"not json", 400, "body must be JSON"),
    (b'{"question": 5}', 400, '"question" must be a string'),
    (b'{"question": "hi", "history": "what is it"}', 400, '"history" must be a list'),
    (json.dumps({"question": "x" * 5000}).encode(), 413, "the limit is 1,000"),
    (b"{" + b" " * 70_000 + b"}", 413, "the limit is 65,536"),
])
def test_bad_or_oversize_input_to_the_json_endpoint_is_a_json_error(live_app, body, code, says):
    status, out = post(live_app[0] + "/v1/ask", body)
    assert status == code and says in out["error"]


def test_an_answer_from_the_json_endpoint_can_be_rated_by_its_id(live_app):
    from rag.store.audit import AuditLog

    url, cfg = live_app
    import urllib.request

    req = urllib.request.Request(url + "/v1/ask", data=json.dumps({"question": "what is melanoma?"}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        answer_id = r.headers.get("X-Answer-Id")
    code, out = post(url + "/v1/feedback", json.dumps({"answer_id": answer_id, "helpful": False,
                                                       "comment": "too short"}).encode())
    assert code == 200 and out == {"saved": True}
    assert AuditLog(cfg.audit_log).get(answer_id)["feedback"]["comment"] == "too short"
    code, out = post(url + "/v1/feedback", json.dumps({"answer_id": answer_id, "helpful": "maybe"}).encode())
    assert code == 400 and "true or false" in out["error"]
