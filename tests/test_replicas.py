"""Real servers: a PostgreSQL server (Debian's postgresql, initdb into a temporary folder, on a free loopback port)
as the one store, two `rag serve` replicas on it, and Debian's nginx in front (deploy/nginx.conf). Skipped, with
the reason printed, only where those packages are not installed."""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from servers import NGINX, PG_BIN, fresh_database, nginx_front, postgres_server  # noqa: E402
from servers import replicas as start_replicas  # noqa: E402

STAFF_PASSWORD = "replica-test-password"


@pytest.fixture(scope="session")
def postgres():
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql): PostgreSQL tests skipped")
    with postgres_server() as url:
        yield url


# ---- the store on PostgreSQL ---------------------------------------------------------------------------
def test_the_store_on_postgresql_shares_answers_ratings_and_the_sign_in_limit(engine, postgres):
    from rag.store.audit import AuditLog
    from rag.store.staff import MAX_FAILURES, StaffAccounts

    url = fresh_database(postgres, "store_test")
    one, two = AuditLog(url), AuditLog(url)  # two replicas' stores
    answer = one.record(engine.ask("what is melanoma?"))
    one.record(engine.ask("what is the capital of australia"))
    two.record_feedback(answer["id"], False, "I wanted the stages, call me on 617-555-0199")
    queue = one.review_queue("all")
    assert [e["question"] for e in queue] == ["what is the capital of australia", "what is melanoma?"]
    assert queue[1]["feedback"]["comment"] == "I wanted the stages, call me on [phone]"
    assert [e["question"] for e in two.review_queue("unhelpful")] == ["what is melanoma?"]
    assert one.review_queue("all", document="melanoma")[0]["id"] == answer["id"]
    a, b = StaffAccounts(one.db), StaffAccounts(two.db)
    a.add("nurse.kim", "correct horse battery")
    for _ in range(MAX_FAILURES):
        assert not a.sign_in("nurse.kim", "wrong wrong wrong", "203.0.113.5")
    assert not b.sign_in("nurse.kim", "correct horse battery", "198.51.100.7")


# ---- two replicas behind nginx -------------------------------------------------------------------------
def _post(url: str, payload: dict, timeout: float = 60, form: bool = False) -> tuple[int, dict, dict]:
    data = (urllib.parse.urlencode(payload) if form else json.dumps(payload)).encode()
    ctype = "application/x-www-form-urlencoded" if form else "application/json"
    req = urllib.request.Request(url, data=data, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            return r.status, (json.loads(body) if body[:1] in (b"{", b"[") else {}), r.headers
    except urllib.error.HTTPError as err:
        return err.code, {}, dict(err.headers)
    except OSError:
        return 0, {}, {}


@pytest.fixture(scope="module")
def replicas(config, built, postgres, tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian package nginx): replica tests skipped")
    url = fresh_database(postgres, "replicas")
    env = {"RAG_DATABASE_URL": url, "RAG_INDEX_DIR": str(config.index_dir), "RAG_DOCS_DIR": str(config.docs_dir),
           "RAG_STAFF_PASSWORD": STAFF_PASSWORD, "RAG_TODAY": "2026-11-25", "RAG_CACHE_DIR": str(config.cache_dir)}
    with start_replicas(2, env, tmp_path_factory.mktemp("replica-logs")) as (urls, procs):
        with nginx_front(urls, tmp_path_factory.mktemp("nginx")) as front:
            yield {"front": front, "replicas": urls, "procs": procs, "url": url}


def test_feedback_given_through_one_replica_is_in_the_other_replicas_review_queue(replicas):
    from gradio_client import Client

    a, b = replicas["replicas"]
    code, out, headers = _post(a + "/v1/ask", {"question": "how is kidney cancer treated?"})
    assert code == 200 and out["status"] == "answered"
    code, _, _ = _post(a + "/v1/feedback", {"answer_id": headers.get("X-Answer-Id"), "helpful": False,
                                            "comment": "nothing about side effects"})
    assert code == 200
    staff = Client(b + "/staff/", auth=("staff", STAFF_PASSWORD), verbose=False)
    rows = staff.predict("unhelpful", "", "", "", api_name="/queue")["data"]
    assert any("kidney cancer" in r[2] and "side effects" in r[4] for r in rows)


def test_forty_patients_at_once_over_both_replicas_get_answers_and_every_answer_is_logged(replicas):
    from rag.store.audit import AuditLog

    questions = [f"how is colon cancer treated? (request {i})" for i in range(40)]
    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda q: _post(replicas["front"] + "/v1/ask", {"question": q}), questions))
    assert [code for code, _, _ in results] == [200] * 40
    assert all(out["status"] == "answered" for _, out, _ in results)
    logged = AuditLog(replicas["url"]).search("all", "(request ", limit=100)
    assert len(logged) == 40
    assert len({e["served_by"] for e in logged}) == 2, "both replicas answered"


def test_the_sign_in_limit_holds_across_replicas(replicas):
    a, b = replicas["replicas"]
    for _ in range(5):
        code, _, _ = _post(a + "/staff/login", {"username": "staff", "password": "not the password"}, form=True)
        assert code in (400, 401)
    code, _, _ = _post(b + "/staff/login", {"username": "staff", "password": STAFF_PASSWORD}, form=True)
    assert code in (400, 401), "the right password on the other replica must wait too"


def test_killing_one_replica_mid_load_loses_no_logged_answer(replicas):
    from rag.store.audit import AuditLog

    questions = [f"how is colon cancer treated? (load {i})" for i in range(60)]

    def ask(q: str):
        return _post(replicas["front"] + "/v1/ask", {"question": q})

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(ask, q) for q in questions]
        time.sleep(1.0)
        victim = replicas["procs"][0]
        victim.kill()  # mid-load, no goodbye
        results = [f.result() for f in futures]
    answered = [q for q, (code, out, _) in zip(questions, results) if code == 200]
    logged = {e["question"] for e in AuditLog(replicas["url"]).search("all", "(load ", limit=200)}
    assert set(answered) <= logged, "an answer a patient received is missing from the log"
    assert len(answered) >= 55, f"only {len(answered)} of 60 answered with one replica killed"
