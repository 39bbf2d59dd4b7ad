"""The app over HTTP, as programs and browsers reach it (a live server on loopback)."""
import json
import urllib.error
import urllib.request

import pytest
from gradio_client import Client

CONTRACT = {"question", "status", "answer", "sentences", "citations", "timings_ms"}


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
    lines = cfg.audit_log.read_text().splitlines()
    entry = json.loads(lines[-1])
    assert "jane@example.org" not in lines[-1] and "123456789" not in lines[-1]
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

