"""The web app: patient chat at /, staff console at /staff (login), named API endpoint /ask.

It calls the engine's public entry point (Engine.ask) and renders what comes back; no retrieval here."""
from __future__ import annotations

import html
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no outbound calls
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import PlainTextResponse  # noqa: E402

from rag import Config, Engine, __version__  # noqa: E402
from rag.audit import AuditLog, to_csv  # noqa: E402
from rag.errors import RagError  # noqa: E402

from . import a11y  # noqa: E402
from .render import answer_markdown, highlighted_passage, safe_url, text  # noqa: E402

log = logging.getLogger("cancer_qa.app")

EXAMPLES = [
    "What is daratumumab?",
    "What are the symptoms of leukemia?",
    "How is colon cancer treated?",
    "Is breast cancer possible in men?",
]
DISCLAIMER = ("This assistant shares information from trusted cancer sources (such as the National Cancer Institute). "
              "It is **not medical advice** and cannot diagnose you or suggest doses. Please talk with your doctor or "
              "care team about your own situation. **In an emergency, call 911 (or your local emergency number).**")
CSS = """
.rag-urgent { background:#8b0000; color:#fff !important; padding:.6em .8em; border-radius:6px; font-size:1.1em; }
.rag-urgent strong { color:#fff !important; }
.rag-noanswer { background:#fff4ce; color:#3d3000 !important; padding:.5em .8em; border-radius:6px; }
.rag-noanswer strong { color:#3d3000 !important; }
.rag-disclaimer { font-size:.95em; }
mark { background:#ffe066; color:#000; }
"""


def staff_password(config: Config) -> str | None:
    if config.staff_password:
        return config.staff_password
    if config.staff_password_file:
        path = Path(config.staff_password_file)
        if not path.is_file():
            raise RagError(f"{path}: staff password file not found (RAG_STAFF_PASSWORD_FILE)")
        return path.read_text(encoding="utf-8").strip() or None
    return None


def patient_blocks(engine: Engine, audit: AuditLog) -> gr.Blocks:
    limit = engine.config.max_question_chars

    def respond(message: str, chat: list[dict[str, Any]], asked: list[str]):
        if not message or not message.strip():
            return gr.update(), chat, asked
        ans = engine.ask(message, history=asked)
        audit.record(ans, history_used=ans.retrieval_query not in ("", message))
        chat = list(chat or []) + [{"role": "user", "content": text(message[: limit + 100])},
                                   {"role": "assistant", "content": answer_markdown(ans)}]
        if ans.reason != "too_long":
            asked = list(asked or []) + [message]
        return "", chat, asked

    def ask(question: str, history: list[str] | None = None) -> dict:
        """Answer a question from the trusted sources; returns the same JSON as `python -m rag ask --json`."""
        ans = engine.ask(question if isinstance(question, str) else "", history=history or [])
        audit.record(ans, history_used=bool(history))
        return ans.to_json()

    with gr.Blocks(title="Cancer information — answers from trusted sources", analytics_enabled=False) as demo:
        gr.Markdown("# Cancer information\nAsk a question about cancer. Every answer is quoted from trusted "
                    "sources and shows which ones it used.")
        gr.Markdown(DISCLAIMER, elem_classes=["rag-disclaimer"])
        chat = gr.Chatbot(label="Conversation", height=480, elem_id="chat", buttons=["copy", "copy_all"])
        asked = gr.State([])
        with gr.Row():
            box = gr.Textbox(placeholder="Type your question and press Enter…", show_label=False, scale=8,
                             autofocus=True, elem_id="question", lines=1, max_lines=6, label="Your question")
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask-button")
        gr.Examples(EXAMPLES, inputs=box, label="Example questions")
        clear = gr.Button("Start over", variant="secondary", elem_id="start-over")
        gr.Markdown(f"<small>Questions up to {limit:,} characters. Version {__version__}.</small>")
        box.submit(respond, [box, chat, asked], [box, chat, asked], api_visibility="private")
        send.click(respond, [box, chat, asked], [box, chat, asked], api_visibility="private")
        clear.click(lambda: ("", [], []), None, [box, chat, asked], api_visibility="private")
        gr.api(ask, api_name="ask")
    return demo


def _inspector_html(engine: Engine, entry: dict[str, Any] | None) -> str:
    if not entry:
        return "<p>No answer selected.</p>"
    parts = [f"<h2>{html.escape(entry['question'])}</h2>",
             f"<p><b>Status:</b> {html.escape(entry['status'])} ({html.escape(entry.get('reason') or '')}) · "
             f"<b>Time:</b> {html.escape(entry['time'])} · <b>Index:</b> {html.escape(entry.get('manifest_hash', ''))}</p>",
             f"<p><b>Answer shown:</b><br>{html.escape(entry.get('answer', '')).replace(chr(10), '<br>')}</p>",
             _safety_html(entry.get("safety"))]
    library = {row["doc_id"]: row for row in engine.library()}
    for c in entry.get("citations", []):
        found = engine.passage(c["passage_id"])
        meta = library.get(c["doc_id"], {})
        url = safe_url(c.get("url", ""))
        link = f'<a href="{url}" target="_blank" rel="noopener noreferrer">{html.escape(c["title"])}</a>' if url else html.escape(c["title"])
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(meta.get(k, '')))}</td></tr>"
                       for k in ("source", "url", "lastReviewed", "reviewFrequency", "review", "license", "status", "audienceLevel"))
        scores = (f"dense {c.get('dense')} (rank {c.get('dense_rank')}) · lexical {c.get('lexical')} "
                  f"(rank {c.get('lexical_rank')}) · fused rank {c.get('fused_rank')}")
        passage = highlighted_passage(found[0].text, c.get("sentences", [])) if found else \
            "<em>This passage is no longer in the index (it was rebuilt since).</em>"
        parts.append(f"<section class='citation'><h3>[{c['n']}] {link} — {html.escape(c['section'])}</h3>"
                     f"<p><b>Scores:</b> {html.escape(scores)}</p><table>{rows}</table>"
                     f"<blockquote>{passage}</blockquote></section>")
    return "\n".join(parts)


def _safety_html(seen: dict[str, Any] | None) -> str:
    """Which safety layer decided, with the classifier's scores and the closest labelled example."""
    if not seen:
        return ""
    clf = seen.get("classifier") or {}
    rule = seen.get("rule")
    if seen.get("layer"):
        decided = (f"{html.escape(str(seen.get('action')))} ({html.escape(str(seen.get('label') or seen.get('category')))}) "
                   f"decided by the <b>{html.escape(str(seen['layer']))}</b> layer"
                   + (f", score {seen['score']:.3f}" if seen.get("score") is not None else ""))
    else:
        decided = "no safety layer fired"
    nearest = clf.get("nearest") or {}
    parts = [f"<p><b>Safety:</b> {decided}.",
             f"Rules: {html.escape(rule['category']) if rule else 'none fired'}."]
    if clf:
        parts.append(f"Classifier: urgent {clf.get('urgent_score', 0):.3f} ({html.escape(str(clf.get('urgent_label')))}), "
                     f"decline {clf.get('decline_score', 0):.3f} ({html.escape(str(clf.get('decline_label')))}); "
                     f"closest example ({html.escape(str(nearest.get('label')))}, similarity "
                     f"{nearest.get('similarity', 0):.2f}): “{html.escape(str(nearest.get('text', '')))}”")
    return " ".join(parts) + "</p>"


def staff_blocks(engine: Engine, audit: AuditLog) -> gr.Blocks:
    def choices() -> list[tuple[str, str]]:
        return [(f"{e['time']} · {e['status']} · {e['question'][:70]}", e["id"]) for e in audit.search()[:300]]

    def inspect(entry_id: str | None) -> str:
        entry = next((e for e in audit.entries() if e.get("id") == entry_id), None)
        return _inspector_html(engine, entry)

    lib_cols = ["doc_id", "title", "source", "url", "lastReviewed", "reviewFrequency", "review", "license", "status",
                "audienceLevel", "cancerTypes", "passages"]

    def library(query: str = "") -> list[list[Any]]:
        q = (query or "").lower().strip()
        return [[r[c] for c in lib_cols] for r in engine.library() if not q or q in " ".join(map(str, r.values())).lower()]

    log_cols = ["time", "status", "reason", "question", "doc_ids", "passage_ids", "latency_ms"]

    def log_rows(status: str, query: str, since: str) -> list[list[Any]]:
        return [[", ".join(e.get(c) or []) if isinstance(e.get(c), list) else e.get(c, "") for c in log_cols]
                for e in audit.search(status, query or "", since or None)]

    def download(status: str, query: str, since: str) -> gr.File:
        path = Path(tempfile.mkdtemp(prefix="audit-")) / "audit-log.csv"
        path.write_text(to_csv(audit.search(status, query or "", since or None)), encoding="utf-8")
        return gr.File(value=str(path), visible=True)

    with gr.Blocks(title="Staff console — cancer information assistant", analytics_enabled=False) as staff:
        gr.Markdown("# Staff console\nWhat each answer cited, the document library and the audit log.")
        with gr.Tab("Answer inspector"):
            with gr.Row():
                pick = gr.Dropdown(choices=choices(), label="Logged answer (latest first)", scale=6, elem_id="pick-answer")
                refresh = gr.Button("Refresh", scale=1)
            detail = gr.HTML(elem_id="inspector")
            pick.change(inspect, pick, detail)
            refresh.click(lambda: gr.update(choices=choices()), None, pick)
        with gr.Tab("Library"):
            search = gr.Textbox(label="Search documents", elem_id="library-search")
            table = gr.Dataframe(value=library(), headers=lib_cols, interactive=False, wrap=True, elem_id="library")
            search.change(library, search, table)
            skipped = engine.skipped()
            gr.Markdown(f"## Skipped at indexing ({len(skipped)})")
            gr.Dataframe(value=[[s["path"], s["reason"]] for s in skipped] or [["–", "none"]], headers=["file", "reason"],
                         interactive=False, wrap=True)
        with gr.Tab("Audit log"):
            with gr.Row():
                status = gr.Dropdown(["all", "answered", "no_answer", "urgent"], value="all", label="Status")
                query = gr.Textbox(label="Question or document contains")
                since = gr.Textbox(label="Since (YYYY-MM-DD)")
                apply = gr.Button("Filter")
            rows = gr.Dataframe(headers=log_cols, interactive=False, wrap=True, elem_id="audit")
            csv_btn = gr.Button("Download CSV")
            csv_file = gr.File(label="CSV", visible=False)  # an empty File is an unnamed div
            apply.click(log_rows, [status, query, since], rows)
            csv_btn.click(download, [status, query, since], csv_file)
            staff.load(log_rows, [status, query, since], rows)
        staff.load(lambda: gr.update(choices=choices()), None, pick)
    return staff


def create_app(config: Config, engine: Engine | None = None) -> FastAPI:
    """The ASGI app: patient Blocks at /, staff Blocks at /staff when a password is configured."""
    engine = engine or Engine.load(config)
    audit = AuditLog(config.audit_log, engine.index.manifest_hash)
    app = FastAPI(title="Cancer information assistant", docs_url=None, redoc_url=None, openapi_url=None)
    password = staff_password(config)
    if password:
        staff = staff_blocks(engine, audit).queue(default_concurrency_limit=config.concurrency_limit)
        gr.mount_gradio_app(app, staff, path="/staff", auth=[(config.staff_user, password)],
                            auth_message="Staff console: sign in with the staff user and password.",
                            footer_links=[], css=CSS + a11y.CSS, theme=a11y.THEME,
                            server_name=config.host, server_port=config.port)
        app.add_middleware(a11y.LoginPageFixes, path="/staff")
    else:
        log.warning("staff console disabled: set RAG_STAFF_PASSWORD or RAG_STAFF_PASSWORD_FILE to enable /staff")

        @app.get("/staff")
        @app.get("/staff/{rest:path}")
        def staff_disabled(rest: str = "") -> PlainTextResponse:
            return PlainTextResponse("The staff console is disabled: no staff password is configured.", status_code=404)

    patient = patient_blocks(engine, audit).queue(default_concurrency_limit=config.concurrency_limit, max_size=128)
    gr.mount_gradio_app(app, patient, path="", footer_links=["api"], css=CSS + a11y.CSS, theme=a11y.THEME,
                        server_name=config.host, server_port=config.port)
    return app


def serve(config: Config, engine: Engine) -> None:
    """Serve `engine` (from rag.engine.open_engine, which the CLI calls before this module loads the web stack)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("bm25s", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = create_app(config, engine)
    staff = f"http://{config.host}:{config.port}/staff" if staff_password(config) else "disabled (no password set)"
    print(f"patient chat: http://{config.host}:{config.port}/   staff console: {staff}", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
