"""The web app: patient chat at /, staff console at /staff (login), named API endpoint /ask.

It calls the engine's public entry point (Engine.ask) and renders what comes back; no retrieval here."""
from __future__ import annotations

import contextvars
import html
import socket
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no outbound calls
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse, PlainTextResponse  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

from rag import Config, Engine, __version__  # noqa: E402
from rag.store.staff import StaffAccounts  # noqa: E402
from rag.store.audit import REVIEW_STATUSES, AuditLog, helpful_text, review_kinds, to_csv  # noqa: E402
from rag.errors import AuditQueryError, FeedbackError, RagError  # noqa: E402

from . import a11y  # noqa: E402
from .render import Phones, answer_markdown, highlighted_passage, safe_url, text  # noqa: E402
from .transcript import transcript_html, turn as transcript_turn  # noqa: E402

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
.rag-icon { display:inline-block !important; vertical-align:middle; flex:none; width:24px; height:24px; }
.rag-urgent .rag-icon { color:#fff !important; stroke:#fff !important; margin-right:.25em; }
.rag-noanswer .rag-icon { color:#3d3000 !important; stroke:#3d3000 !important; margin-right:.25em; }
/* urgent replies: each number a large button that calls (tel:) or texts (sms:) on a phone */
.rag-calls { display:flex; flex-wrap:wrap; gap:.5em; margin-top:.6em; }
.rag-calls a.rag-call-button, .rag-calls a.rag-call-button * { color:#fff !important; }
.rag-calls a.rag-call-button, #chat .rag-calls a.rag-call-button { display:inline-flex !important; align-items:center;
  gap:.45em; min-height:48px !important; line-height:1.3 !important; padding:.55em 1em;
  border-radius:8px; background:#8b0000; color:#fff !important; font-weight:700; font-size:1.05em;
  text-decoration:none; box-sizing:border-box; }
.rag-calls a.rag-call-button:hover { background:#6b0000; }
/* sources: titles wrap, links are at least 24 px tall to tap */
#chat .message a { display:inline-block; min-height:24px; line-height:24px; overflow-wrap:anywhere; }
/* feedback: compact under the answer; its question never squeezed into a narrow column */
#feedback-question { flex:1 1 14em !important; min-width:min(14em, 100%) !important; }
#feedback-buttons { flex:0 1 auto !important; min-width:min(18em, 100%) !important; flex-wrap:nowrap; }
/* phones: the question box full width under the conversation, Ask under it */
@media (max-width: 600px) {
  #question-row { flex-wrap:wrap !important; }
  #question-row > #question { flex:1 1 100% !important; min-width:100% !important; }
  #question-row > #ask-button { flex:1 1 100% !important; min-height:44px; }
}
"""


# The printable conversation: the page keeps it in an attribute (not on screen, not read out); "Save or print"
# puts it into #rag-print at the end of <body> and opens the browser's print dialog, where only it is printed.
# Body-level rules sit outside the element Gradio scopes `css` to, so they go in the page's <head>.
PRINT_HEAD = """<style>
#rag-print { display:none; }
@media print {
  body > *:not(#rag-print) { display:none !important; }
  #rag-print { display:block; color:#000; background:#fff; font:12pt/1.45 Georgia, serif; margin:0; }
  #rag-print h1 { font-size:17pt; margin:0 0 .2em; }
  #rag-print h2 { font-size:13pt; margin:1.1em 0 .3em; }
  #rag-print .rag-transcript-url { overflow-wrap:anywhere; font-family:monospace; font-size:10pt; }
  #rag-print .rag-transcript-turn { break-inside:avoid-page; }
}
</style>"""
# One listener for the page, registered once (Gradio places `head` in the page twice: two listeners would open the
# print dialog twice)
PRINT_HEAD += """<script>
if (!window.ragPrintListener) window.ragPrintListener = document.addEventListener('click', (event) => {
  if (!event.target.closest || !event.target.closest('#print-button')) return;
  const page = document.getElementById('rag-transcript');
  if (!page) return;
  let out = document.getElementById('rag-print');
  if (!out) { out = document.createElement('div'); out.id = 'rag-print'; document.body.appendChild(out); }
  out.innerHTML = page.dataset.page;  // markup built by ui/transcript.py, every piece of text in it escaped
  window.print();
}) || true;
</script>"""


def staff_password(config: Config) -> str | None:
    if config.staff_password:
        return config.staff_password
    if config.staff_password_file:
        path = Path(config.staff_password_file)
        if not path.is_file():
            raise RagError(f"{path}: staff password file not found (RAG_STAFF_PASSWORD_FILE)")
        return path.read_text(encoding="utf-8").strip() or None
    return None


def chat_turn(engine: Engine, audit: AuditLog, message: str, chat: list[dict[str, Any]], asked: list[str],
              answer_ids: dict[int, str], phones: Phones | None = None
              ) -> tuple[Any, list[dict[str, Any]], list[str], dict[int, str]]:
    """One question and its answer. answer_ids maps the answer's message index in the chat to its audit entry
    id, so a rating reaches the answer it rates however long the conversation grows (kept per session only)."""
    limit = engine.config.max_question_chars
    ans = engine.ask(message, history=asked)
    entry = audit.record(ans, history_used=ans.retrieval_query not in ("", message))
    chat = list(chat or []) + [{"role": "user", "content": text(message[: limit + 100])},
                               {"role": "assistant", "content": answer_markdown(ans, engine.ui_text(ans.language),
                                                                                 phones)}]
    if ans.reason != "too_long":
        asked = list(asked or []) + [message]
    return ans, chat, asked, {**(answer_ids or {}), len(chat) - 1: entry["id"]}


def rate_answer(audit: AuditLog, max_chars: int, answer_ids: dict[int, str], helpful: bool | None, comment: str,
                index: int | None = None) -> str:
    """Store a patient's rating of the answer at chat index `index` (default: the latest) and say what happened;
    a refused rating (no answer yet, comment too long) is explained, never raised at the patient."""
    if helpful is None:
        return "Please choose **Yes** or **No** first."
    index = max(answer_ids or {}, default=None) if index is None else index
    try:
        audit.record_feedback((answer_ids or {}).get(index, ""), helpful, comment or "", max_chars)
    except FeedbackError as err:
        return str(err)
    if comment and comment.strip():
        return "Thank you — your rating and comment were saved."
    return "Thank you — your rating was saved. You can add a comment below if you like."


def patient_blocks(engine: Engine, audit: AuditLog) -> gr.Blocks:
    limit = engine.config.max_question_chars
    max_comment = engine.config.feedback_max_chars
    phones = Phones.from_config(engine.config)

    def respond(message: str, chat: list[dict[str, Any]], asked: list[str], answer_ids: dict[int, str],
                turns: list[dict[str, Any]]):
        if not message or not message.strip():
            return (gr.update(),) * 11
        ans, chat, asked, answer_ids = chat_turn(engine, audit, message, chat, asked, answer_ids, phones)
        turns = list(turns or []) + [transcript_turn(ans)]
        page = _printable(transcript_html(turns, engine.ui_text(ans.language), engine.today()))
        # a new answer: the feedback panel now rates it, starting blank, its comment box closed
        return ("", chat, asked, answer_ids, None, "", "", gr.update(visible=True), gr.update(visible=False), turns,
                page)

    def rate(helpful: bool | None):
        def handler(answer_ids: dict[int, str], comment: str) -> tuple[bool | None, str, Any]:
            # the comment box opens after "No, not helpful": what was missing is worth a sentence
            return helpful, rate_answer(audit, max_comment, answer_ids, helpful, comment), gr.update(visible=not helpful)
        return handler

    def rate_message(answer_ids: dict[int, str], like: gr.LikeData) -> Any:
        """The thumbs under every answer in the chat: rates that answer, however far up the conversation it is."""
        if like.liked not in (True, False):  # a thumb clicked off again: the earlier rating stays on record
            return gr.update()
        index = like.index if isinstance(like.index, int) else like.index[0]
        return rate_answer(audit, max_comment, answer_ids, like.liked, "", index=index)

    def ask(question: str, history: list[str] | None = None) -> dict:
        """Answer a question from the trusted sources; returns the same JSON as `python -m rag ask --json`."""
        ans = engine.ask(question if isinstance(question, str) else "", history=history or [])
        audit.record(ans, history_used=bool(history))
        return ans.to_json()

    ui = engine.ui_text("en")
    with gr.Blocks(title="Cancer information — answers from trusted sources", analytics_enabled=False) as demo:
        gr.Markdown("# Cancer information\nAsk a question about cancer. Every answer is quoted from trusted "
                    "sources and shows which ones it used.")
        gr.Markdown(DISCLAIMER, elem_classes=["rag-disclaimer"])
        chat = gr.Chatbot(label="Conversation", height=480, elem_id="chat", buttons=["copy", "copy_all"])
        asked = gr.State([])
        answer_ids = gr.State({})  # chat message index -> audit entry id, this session only
        rated = gr.State(None)  # the latest answer's Yes/No, for a comment sent after it
        turns = gr.State([])  # what the printable transcript holds, this session only
        # the question box right under the conversation, before anything else (on a phone: full width, Ask below)
        with gr.Row(elem_id="question-row"):
            box = gr.Textbox(placeholder="Type your question and press Enter…", show_label=False, scale=8,
                             autofocus=True, elem_id="question", lines=1, max_lines=6, label="Your question")
            send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask-button")
        with gr.Column(visible=False, elem_id="feedback") as panel:
            with gr.Row(elem_id="feedback-row"):
                gr.Markdown("**Was this answer helpful?**", elem_id="feedback-question")
                with gr.Row(elem_id="feedback-buttons"):
                    yes = gr.Button("Yes, helpful", size="sm", elem_id="feedback-yes")
                    no = gr.Button("No, not helpful", size="sm", elem_id="feedback-no")
            with gr.Column(visible=False, elem_id="feedback-more") as more:
                comment = gr.Textbox(label=f"Comment (optional, up to {max_comment:,} characters; please leave out "
                                           "names and contact details)", lines=2, max_lines=4, max_length=max_comment,
                                     elem_id="feedback-comment")
                send_comment = gr.Button("Send comment", size="sm", elem_id="feedback-send")
            thanks = gr.Markdown(elem_id="feedback-status")
        save = gr.Button(ui["save_print"], variant="secondary", elem_id="print-button")
        gr.Examples(EXAMPLES, inputs=box, label="Example questions")
        clear = gr.Button("Start over", variant="secondary", elem_id="start-over")
        gr.Markdown(f"<small>Questions up to {limit:,} characters. Version {__version__}.</small>")
        printable = gr.HTML(_printable(transcript_html([], ui, engine.today())), elem_id="transcript")
        turn = [box, chat, asked, answer_ids, rated, comment, thanks, panel, more, turns, printable]
        box.submit(respond, [box, chat, asked, answer_ids, turns], turn, api_visibility="private")
        send.click(respond, [box, chat, asked, answer_ids, turns], turn, api_visibility="private")
        clear.click(lambda: ("", [], [], {}, None, "", "", gr.update(visible=False), gr.update(visible=False), [],
                             _printable(transcript_html([], ui, engine.today()))), None, turn, api_visibility="private")
        yes.click(rate(True), [answer_ids, comment], [rated, thanks, more], api_visibility="private")
        no.click(rate(False), [answer_ids, comment], [rated, thanks, more], api_visibility="private")
        send_comment.click(lambda ids, helpful, remark: rate_answer(audit, max_comment, ids, helpful, remark),
                           [answer_ids, rated, comment], thanks, api_visibility="private")
        # `save` is handled in the page itself (PRINT_HEAD): printed by the browser, whose dialog also saves a
        # PDF; nothing leaves the page
        chat.like(rate_message, answer_ids, thanks, api_visibility="private")
        gr.api(ask, api_name="ask")
    return demo


def _printable(page: str) -> str:
    """The printable page carried in an attribute: not shown, not read out, not found by the page's text search
    (its own text is already escaped; the attribute escapes it once more, the browser undoes that once)."""
    return f"<div id='rag-transcript' hidden data-page=\"{html.escape(page, quote=True)}\"></div>"


def _inspector_html(engine: Engine, entry: dict[str, Any] | None) -> str:
    if not entry:
        return "<p>No answer selected.</p>"
    reason = f" ({html.escape(entry['reason'])})" if entry.get("reason") else ""
    parts = [f"<h2>{html.escape(entry['question'])}</h2>",
             f"<p><b>Status:</b> {html.escape(entry['status'])}{reason} · "
             f"<b>Time:</b> {html.escape(entry['time'])} · <b>Index:</b> {html.escape(entry.get('manifest_hash', ''))}</p>",
             f"<p><b>Answer shown:</b><br>{html.escape(entry.get('answer', '')).replace(chr(10), '<br>')}</p>",
             _feedback_html(entry.get("feedback")), _safety_html(entry.get("safety")),
             _answerability_html(entry.get("answerability"))]
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


def _feedback_html(rating: dict[str, Any] | None) -> str:
    """The patient's latest rating of this answer, so a reviewer reads it beside what was shown."""
    if not rating:
        return "<p><b>Patient feedback:</b> none.</p>"
    verdict = "helpful" if rating.get("helpful") else "not helpful"
    comment = f" — “{html.escape(rating['comment'])}”" if rating.get("comment") else ""
    return f"<p><b>Patient feedback:</b> {verdict}{comment} ({html.escape(str(rating.get('time', '')))})</p>"


def _answerability_html(judged: dict[str, Any] | None) -> str:
    """Why the bot answered or refused: P(answerable) against the cut, and each signal the model read."""
    if not judged:
        return "<p><b>Answerability:</b> not judged (a safety layer or small talk replied first).</p>"
    p, cut = judged.get("probability", 0.0), judged.get("threshold", 0.0)
    signals = ", ".join(f"{html.escape(k)} {v}" for k, v in judged.items() if k not in ("probability", "threshold"))
    return (f"<p id='answerability'><b>Answerability:</b> P(answerable) {p:.3f} "
            f"{'≥' if p >= cut else '<'} cut {cut:.3f}. Signals: {signals}.</p>")


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


def staff_blocks(engine: Engine, audit: AuditLog, accounts: StaffAccounts | None = None) -> gr.Blocks:
    def choices() -> list[tuple[str, str]]:
        return [(f"{e['time']} · {e['status']} · {e['question'][:70]}", e["id"]) for e in audit.search(limit=300)]

    def inspect(entry_id: str | None) -> str:
        return _inspector_html(engine, audit.get(entry_id))

    queue_cols = ["time", "why", "question", "helpful", "comment", "documents", "id"]

    def queue(status: str, since: str, until: str, document: str) -> tuple[list[list[Any]], list[str]]:
        """The review queue's rows, and the ids of exactly those rows (what the CSV exports)."""
        try:
            entries = audit.review_queue(status, since or None, until or None, document or "")
        except AuditQueryError as err:
            raise gr.Error(str(err)) from None
        rows = [[e.get("time", ""), ", ".join(review_kinds(e)), e.get("question", ""),
                 helpful_text((e.get("feedback") or {}).get("helpful")), (e.get("feedback") or {}).get("comment") or "",
                 ", ".join(dict.fromkeys(e.get("doc_ids") or [])), e.get("id", "")] for e in entries]
        return rows, [e.get("id", "") for e in entries]

    def open_queued(event: gr.SelectData) -> str:
        """A selected row (any cell) opens its answer; the row's id column says which, however it is sorted."""
        return inspect((event.row_value or [None])[-1])

    def download_queue(shown: list[str]) -> gr.File:
        found = [audit.get(i) for i in shown or []]
        return _csv_file("review-queue", [e for e in found if e])

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
        return _csv_file("audit-log", audit.search(status, query or "", since or None))

    with gr.Blocks(title="Staff console — cancer information assistant", analytics_enabled=False) as staff:
        gr.Markdown("# Staff console\nWhat to review, what each answer cited, the document library and the audit log.")
        with gr.Tab("Review queue"):
            gr.Markdown("Answers patients rated unhelpful, no-answer replies and urgent replies, newest first. "
                        "Select a row to open it below.")
            with gr.Row():
                q_status = gr.Dropdown(list(REVIEW_STATUSES), value="all", label="Show", elem_id="queue-status")
                q_since = gr.Textbox(label="Since (YYYY-MM-DD)", elem_id="queue-since")
                q_until = gr.Textbox(label="Until (YYYY-MM-DD)", elem_id="queue-until")
                q_doc = gr.Textbox(label="Cited document (id or title contains)", elem_id="queue-document")
                q_apply = gr.Button("Filter", elem_id="queue-filter")
            q_table = gr.Dataframe(headers=queue_cols, interactive=False, wrap=True, elem_id="review-queue",
                                   column_widths=["13%", "9%", "22%", "8%", "22%", "16%", "10%"])
            q_shown = gr.State([])
            with gr.Row():
                q_csv_btn = gr.Button("Download CSV of these rows", elem_id="queue-csv", scale=1)
                q_csv = gr.File(label="CSV", scale=2, height=80, visible=False)  # an empty File is an unnamed div
            q_detail = gr.HTML(elem_id="queue-inspector")
            q_filters = [q_status, q_since, q_until, q_doc]
            q_apply.click(queue, q_filters, [q_table, q_shown])
            q_table.select(open_queued, None, q_detail)
            q_csv_btn.click(download_queue, q_shown, q_csv)
            staff.load(queue, q_filters, [q_table, q_shown])
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
            unlogged = gr.Markdown(elem_id="unlogged")
            staff.load(lambda: f"Answers that could not be logged since this server started: **{audit.unlogged}**"
                       + (" (the database was unreachable; see the server log)" if audit.unlogged else ""),
                       None, unlogged)
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
        if accounts is not None:
            with gr.Tab("Sign-ins"):
                signs = gr.Dataframe(headers=["time", "name", "address", "ok"], interactive=False, wrap=True,
                                     elem_id="sign-ins")
                staff.load(lambda: [[r["time"], r["name"], r["address"], "yes" if r["ok"] else "no"]
                                    for r in accounts.recent_sign_ins()], None, signs)
        staff.load(lambda: gr.update(choices=choices()), None, pick)
    return staff


def _csv_file(name: str, entries: list[dict[str, Any]]) -> gr.File:
    """A fresh private folder per download, so two staff members never receive each other's export; the File
    box is shown only once it holds a file (an empty one is an unnamed element to screen readers)."""
    path = Path(tempfile.mkdtemp(prefix="audit-")) / f"{name}.csv"
    path.write_text(to_csv(entries), encoding="utf-8")
    return gr.File(value=str(path), visible=True)


def create_app(config: Config, engine: Engine | None = None) -> FastAPI:
    """The ASGI app: patient Blocks at /, staff Blocks at /staff when a password is configured."""
    engine = engine or Engine.load(config)
    audit = AuditLog(config.database_url or config.audit_log, engine.index.manifest_hash, config.audit_retention_days,
                     served_by=f"{socket.gethostname()}:{config.port}")
    app = FastAPI(title="Cancer information assistant", docs_url=None, redoc_url=None, openapi_url=None)
    password = staff_password(config)
    accounts = StaffAccounts(audit.db, (config.staff_user, password) if password else None)
    if password or accounts.names():
        def sign_in(name: str, secret: str) -> bool:  # per-user accounts; the limit on failures is in the database
            return accounts.sign_in(name, secret, CLIENT_ADDRESS.get())

        staff = staff_blocks(engine, audit, accounts).queue(default_concurrency_limit=config.concurrency_limit)
        gr.mount_gradio_app(app, staff, path="/staff", auth=sign_in,
                            auth_message="Staff console: sign in with your staff account (after 5 failed tries, "
                                         "wait 15 minutes).",
                            footer_links=[], css=CSS + a11y.CSS, theme=a11y.THEME, head=a11y.HEAD,
                            server_name=config.host, server_port=config.port)
        app.add_middleware(a11y.LoginPageFixes, path="/staff")
    else:
        log.warning("staff console disabled: add an account (python -m rag staff add NAME) or set "
                    "RAG_STAFF_PASSWORD to enable /staff")

        @app.get("/staff")
        @app.get("/staff/{rest:path}")
        def staff_disabled(rest: str = "") -> PlainTextResponse:
            return PlainTextResponse("The staff console is disabled: no staff account or password is configured.",
                                     status_code=404)

    app.add_middleware(ClientAddress)
    add_json_api(app, engine, audit)
    patient = patient_blocks(engine, audit).queue(default_concurrency_limit=config.concurrency_limit, max_size=128)
    gr.mount_gradio_app(app, patient, path="", footer_links=["api"], css=CSS + a11y.CSS, theme=a11y.THEME,
                        head=a11y.HEAD + PRINT_HEAD, server_name=config.host, server_port=config.port)
    return app


CLIENT_ADDRESS: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="unknown")


class ClientAddress:
    """ASGI middleware: the client's address for the sign-in limit (behind a proxy on this machine, the address
    the proxy passes in X-Real-IP)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            host = (scope.get("client") or ("unknown", 0))[0]
            if host in ("127.0.0.1", "::1"):
                host = dict(scope.get("headers") or []).get(b"x-real-ip", host.encode() if isinstance(host, str)
                                                            else host)
                host = host.decode("latin-1") if isinstance(host, bytes) else host
            CLIENT_ADDRESS.set(host)
        await self.app(scope, receive, send)


MAX_BODY_BYTES = 64 * 1024


def add_json_api(app: FastAPI, engine: Engine, audit: AuditLog) -> None:
    """POST /v1/ask for a clinic's portal and integrations: {"question": str, "history": [str]} -> exactly the
    `ask --json` contract. A plain route on the same FastAPI app as the chat (no queue: the engine answers in
    ~10 ms, so a worker thread per request is enough); errors are JSON with status 400 or 413."""
    limit = engine.config.max_question_chars

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def read_json(request: Request, shape: str) -> Any:
        """The body as JSON, or the JSON error to send (413 over the size limit, 400 not JSON)."""
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error(413, f"request body is {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}")
        try:
            return json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, f"body must be JSON: {shape}")

    @app.post("/v1/ask")
    async def v1_ask(request: Request) -> JSONResponse:
        data = await read_json(request, '{"question": "...", "history": ["..."]}')
        if isinstance(data, JSONResponse):
            return data
        if not isinstance(data, dict) or not isinstance(data.get("question"), str):
            return error(400, '"question" must be a string: {"question": "...", "history": ["..."]}')
        history = data.get("history", [])
        if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
            return error(400, '"history" must be a list of strings (earlier questions of the conversation)')
        question = data["question"]
        if len(question) > limit:
            return error(413, f"question is {len(question):,} characters; the limit is {limit:,}")
        if sum(map(len, history)) > 20 * limit:
            return error(413, f"history is over {20 * limit:,} characters")

        def answer() -> tuple[dict[str, Any], str]:
            ans = engine.ask(question, history=history)
            return ans.to_json(), audit.record(ans, history_used=bool(history))["id"]

        out, answer_id = await run_in_threadpool(answer)
        # the contract is the body; the audit id (to rate the answer with /v1/feedback) rides in a header
        return JSONResponse(out, headers={"X-Answer-Id": answer_id})

    @app.post("/v1/feedback")
    async def v1_feedback(request: Request) -> JSONResponse:
        """{"answer_id": X-Answer-Id of an answer, "helpful": bool, "comment": str} -> {"saved": true}."""
        data = await read_json(request, '{"answer_id": "...", "helpful": true, "comment": "..."}')
        if isinstance(data, JSONResponse):
            return data
        if not isinstance(data, dict) or not isinstance(data.get("answer_id"), str):
            return error(400, 'body must be JSON: {"answer_id": "...", "helpful": true, "comment": "..."}')
        try:
            await run_in_threadpool(audit.record_feedback, data["answer_id"], data.get("helpful"),
                                    str(data.get("comment") or ""), engine.config.feedback_max_chars)
        except FeedbackError as err:
            return error(413 if "characters long" in str(err) else 400, str(err))
        return JSONResponse({"saved": True})


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
