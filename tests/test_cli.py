"""The command line, run as a user would: python -m rag ..."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, assert_one_actionable_line, free_port, overwrite_with_garbage, write_doc
from rag.store.index import current_build


def rag(*args, cwd=ROOT, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_ask_json_prints_the_contract(config, built):
    out = rag("ask", "what is daratumumab?", "--json", "--index", str(config.index_dir))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "answered" and data["citations"][0]["doc_id"] == "000_33357ef47611650a"


def test_ask_questions_file_streams_one_object_per_line(config, built, tmp_path):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"question": "what is melanoma?"}\n\n{"question": "how much does parking cost at the clinic"}\n')
    out = rag("ask", "--questions", str(qfile), "--json", "--index", str(config.index_dir))
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [l["status"] for l in lines] == ["answered", "no_answer"]


def test_ask_prints_a_readable_answer_with_sources_and_nothing_else(config, built):
    out = rag("ask", "what is daratumumab?", "--index", str(config.index_dir))
    assert "Sources:" in out.stdout and "[1]" in out.stdout and "https://www.cancer.gov/" in out.stdout
    # no loading bars or library chatter: stderr is for real warnings only
    assert [line for line in out.stderr.splitlines() if "warning" not in line.lower()] == []


def test_errors_are_one_line_without_a_traceback(tmp_path):
    out = rag("ask", "what is melanoma?", "--index", str(tmp_path / "none"))
    assert out.returncode == 2 and "no index found" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "ok"}\nnot json\n')
    out = rag("index", "--docs", str(tmp_path / "empty"), "--index", str(tmp_path / "i"))
    assert out.returncode == 2 and "documents folder not found" in out.stderr and "Traceback" not in out.stderr


def test_index_reports_skipped_files_and_counts(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("---\ntitle: Fine\nurl: https://example.org/x\n---\n# Fine\n\nA fine sentence here.\n")
    (docs / "broken.md").write_text("---\ntitle: [oops\n---\nbody\n")
    out = rag("index", "--docs", str(docs), "--index", str(tmp_path / "index"))
    assert out.returncode == 0, out.stderr
    assert "broken.md: invalid YAML" in out.stderr
    assert "indexed 1 documents" in out.stdout and "1 skipped" in out.stdout
    # progress in a log: plain lines (no bar redraws), and none of the model loader's bars
    assert "embedded 1 passage in" in out.stderr and "\r" not in out.stderr and "Loading" not in out.stderr


@pytest.mark.parametrize("command", ["ask", "eval", "serve"])
def test_a_damaged_index_stops_every_command_with_one_line(index_copy, tmp_path, command):
    overwrite_with_garbage(current_build(index_copy) / "index.faiss")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "what is melanoma?", "kind": "non_medical"}\n')
    args = {"ask": ["what is melanoma?"], "eval": ["--questions", str(questions), "--out", str(tmp_path / "out")],
            "serve": ["--port", str(free_port())]}[command]
    out = rag(command, *args, "--index", str(index_copy), timeout=120)  # serve exits: it does not start half-broken
    assert out.returncode == 2 and out.stdout == ""
    assert_one_actionable_line(out.stderr, index_copy, str(current_build(index_copy) / "index.faiss"))


def test_index_warns_once_per_document_whose_review_is_overdue(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    old = write_doc(docs, "old.md", lastReviewed="'2020-01-15'", reviewFrequency="annually")
    write_doc(docs, "fresh.md", lastReviewed="'2026-10-01'", reviewFrequency="annually")
    write_doc(docs, "undated.md")
    out = rag("index", "--docs", str(docs), "--index", str(tmp_path / "index"), env={"RAG_TODAY": "2026-11-25"})
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {old}: review overdue since 2021-01-15 (lastReviewed 2020-01-15, "
                        "reviewFrequency annually)"]
    assert "indexed 3 documents" in out.stdout


def test_an_old_audit_log_is_imported_and_exported_as_csv_by_date(tmp_path):
    old = tmp_path / "old.jsonl"
    rows = [{"id": f"2026110{d}T000000000000-x", "time": f"2026-11-0{d}T10:00:00+00:00", "question": f"q{d}",
             "status": "answered", "doc_ids": ["d"], "citations": []} for d in (1, 2, 3)]
    old.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    db = ["--database-url", f"sqlite:///{tmp_path / 'audit.db'}"]
    done = subprocess.run([sys.executable, "-m", "rag", "audit", *db, "import", str(old)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "imported 3 answers" in done.stdout, done.stderr
    out = tmp_path / "export.csv"
    done = subprocess.run([sys.executable, "-m", "rag", "audit", *db, "export", "--since", "2026-11-02", "--until",
                           "2026-11-02", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("time,status,") and len(lines) == 2 and "q2" in lines[1]


def test_an_unreachable_audit_database_is_one_line_and_exit_code_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rag", "audit", "--database-url", "postgresql://nobody@127.0.0.1:1/x",
                           "export", "--out", str(tmp_path / "x.csv")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "cannot open the audit database" in done.stderr
    assert not (tmp_path / "x.csv").exists()
