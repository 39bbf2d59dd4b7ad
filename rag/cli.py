"""Command line: python -m rag index | ask | serve | eval | calibrate | import | audit | staff."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .config import Config
from .errors import RagError
from .memory import limit_heap_growth


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", dest="index_dir", type=Path, help="index folder (default models/index, env RAG_INDEX_DIR)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Cancer-information Q&A that answers only from cited sources.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or update the index from a documents folder")
    _common(p)
    p.add_argument("--docs", dest="docs_dir", type=Path, help="documents folder (default seeds/, env RAG_DOCS_DIR)")

    p = sub.add_parser("ask", help="answer a question (or a JSON-lines file of them)")
    _common(p)
    p.add_argument("question", nargs="?", help="the question")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--questions", type=Path, help="JSON-lines file with a 'question' field per line; streams one JSON object per line")
    p.add_argument("--history", action="append", default=[], help="an earlier question of the conversation (repeatable)")
    p.add_argument("--cancer-type", help="only documents whose cancerTypes include this")
    p.add_argument("--audience", help="only documents with this audienceLevel")
    p.add_argument("--language", help="only documents in this language")

    p = sub.add_parser("serve", help="start the web app (patient chat at /, staff console at /staff)")
    _common(p)
    p.add_argument("--docs", dest="docs_dir", type=Path, help="documents folder used if the index must be built first")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")

    from .ingest.importer import LeafletMetadata  # its defaults are the flags' defaults

    defaults = LeafletMetadata()
    p = sub.add_parser("import", help="convert PDF, DOCX and HTML leaflets into knowledge-base markdown files")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".pdf, .docx, .html or .htm files")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder for the .md files (created if missing)")
    p.add_argument("--force", action="store_true", help="replace files that already exist in DIR")
    p.add_argument("--url", help="the leaflet's web address (http/https), shown as the source link")
    p.add_argument("--source", help="who publishes it, e.g. the clinic's name (cited with the title)")
    p.add_argument("--audience", help=f"audienceLevel (default {defaults.audience})")
    p.add_argument("--cancer-type", dest="cancer_types", action="append", metavar="TYPE",
                   help=f"a cancerTypes entry (repeatable; default {', '.join(defaults.cancer_types)})")
    p.add_argument("--language", help=f"language code (default {defaults.language})")
    p.add_argument("--last-reviewed", metavar="YYYY-MM-DD", help="date of the last clinical review")
    p.add_argument("--review-frequency", help="e.g. annually, quarterly (with --last-reviewed: overdue reviews are flagged)")
    p.add_argument("--license", help=f"license (default '{defaults.license}')")

    p = sub.add_parser("audit", help="the audit store: import an old JSON-lines log, export CSV, delete old answers")
    p.add_argument("--database-url", dest="database_url", help="(default: SQLite at models/audit.db; env RAG_DATABASE_URL)")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    a = audit_sub.add_parser("import", help="move an existing JSON-lines audit log into the store")
    a.add_argument("file", type=Path, metavar="FILE.jsonl")
    a = audit_sub.add_parser("export", help="write answers as CSV (the staff CSV's columns)")
    a.add_argument("--since", help="first UTC day, YYYY-MM-DD (inclusive)")
    a.add_argument("--until", help="last UTC day, YYYY-MM-DD (inclusive)")
    a.add_argument("--out", required=True, type=Path, metavar="FILE.csv")
    a = audit_sub.add_parser("purge", help="delete answers (and their ratings) older than N days")
    a.add_argument("--days", type=int, required=True)

    p = sub.add_parser("staff", help="staff accounts for the console: add, passwd, remove, list")
    p.add_argument("--database-url", dest="database_url", help="(default: SQLite at models/audit.db; env RAG_DATABASE_URL)")
    staff_sub = p.add_subparsers(dest="staff_command", required=True)
    for name, help_text in (("add", "add an account (asks for its password)"), ("passwd", "change an account's password"),
                            ("remove", "remove an account")):
        a = staff_sub.add_parser(name, help=help_text)
        a.add_argument("name")
        if name != "remove":
            a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    staff_sub.add_parser("list", help="list accounts with their last sign-in")

    from . import evaluate  # the eval/calibrate commands live with the evaluation code
    evaluate.add_commands(sub, _common)
    return parser


def _filters(args: argparse.Namespace) -> dict[str, str] | None:
    f = {"cancerTypes": args.cancer_type, "audienceLevel": args.audience, "language": args.language}
    return {k: v for k, v in f.items() if v} or None


def _print_answer(ans) -> None:
    print(ans.answer)
    if ans.citations:
        print("\nSources:")
        shown: set[int] = set()
        for c in ans.citations:  # one number per document, then each quoted passage's section
            if c.n not in shown:
                shown.add(c.n)
                review = {True: "review overdue", False: "reviewed", None: "review date unknown"}[c.review_overdue]
                print(f"  [{c.n}] {c.title}\n      {c.url}  ({review}{': ' + c.last_reviewed if c.last_reviewed else ''})")
            print(f"      - {c.section.split(' > ')[-1].lstrip('#').strip()}")


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_index(args: argparse.Namespace, config: Config) -> int:
    from .engine import build_index

    report = build_index(config, progress=_to_stderr)
    for s in report.skipped:
        print(f"skipped {s.path}: {s.reason}", file=sys.stderr)
    for o in report.overdue:
        print(f"warning: {o.path}: review overdue since {o.due} (lastReviewed {o.last_reviewed}, "
              f"reviewFrequency {o.review_frequency})", file=sys.stderr)
    print(f"indexed {report.documents} documents, {report.passages} passages "
          f"({report.embedded} embedded, {report.reused} reused, {len(report.skipped)} skipped) "
          f"in {report.seconds:.1f} s -> {report.path}")
    return 0


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    from .engine import Engine

    engine = Engine.load(config)
    if args.questions:
        from .evaluate import read_jsonl
        for _, row in read_jsonl(args.questions):
            if "question" not in row:
                continue
            ans = engine.ask(str(row["question"]), filters=_filters(args))
            sys.stdout.write(json.dumps(ans.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        return 0
    if not args.question:
        raise RagError("ask needs a question (or --questions FILE.jsonl)")
    ans = engine.ask(args.question, history=args.history, filters=_filters(args))
    if args.json:
        print(json.dumps(ans.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_answer(ans)
    return 0


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from .engine import open_engine

    # before the web stack loads: a damaged index fails in a second, a first-start build peaks lower in memory
    engine = open_engine(config, progress=_to_stderr)
    from ui.app import serve

    serve(config, engine)
    return 0


def cmd_import(args: argparse.Namespace, config: Config) -> int:
    from .ingest.importer import ImportLimits, LeafletMetadata, import_files

    given = {name: getattr(args, name) for name in ("url", "source", "audience", "cancer_types", "language",
                                                    "last_reviewed", "review_frequency", "license")}
    metadata = LeafletMetadata(**{k: v for k, v in given.items() if v is not None}).validate()

    def show(path: Path, result: Path | Exception) -> None:
        if isinstance(result, Exception):
            print(f"error: {result}", file=sys.stderr, flush=True)
        else:
            print(f"{path} -> {result}", flush=True)

    limits = ImportLimits(config.import_max_file_bytes, config.max_file_bytes)
    report = import_files(args.files, args.out, metadata, force=args.force, on_result=show, limits=limits)
    print(f"imported {len(report.written)} of {len(args.files)} files -> {args.out}")
    return 2 if report.failed else 0


def cmd_audit(args: argparse.Namespace, config: Config) -> int:
    from .errors import AuditQueryError, QuestionFileError
    from .store.audit import AuditLog, _day, to_csv

    store = AuditLog(config.database_url or config.audit_log, retention_days=None)
    if args.audit_command == "import":
        if not args.file.is_file():
            raise QuestionFileError(f"{args.file}: file not found")
        added, rated, skipped = store.import_jsonl(args.file)
        print(f"imported {added} answers and {rated} ratings from {args.file} ({skipped} lines skipped: torn, "
              "unreadable or already present)")
        return 0
    if args.audit_command == "purge":
        if args.days < 1:
            raise AuditQueryError(f"--days must be at least 1, got {args.days}")
        print(f"deleted {store.purge(args.days)} answers older than {args.days} days")
        return 0
    first, last = _day(args.since, "--since"), _day(args.until, "--until")
    entries = store.between(first, last)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".partial")
    tmp.write_text(to_csv(entries), encoding="utf-8")
    tmp.replace(args.out)  # never a half-written export
    print(f"exported {len(entries)} answers -> {args.out}")
    return 0


def cmd_staff(args: argparse.Namespace, config: Config) -> int:
    from .store.audit import AuditLog
    from .store.staff import StaffAccounts

    accounts = StaffAccounts(AuditLog(config.database_url or config.audit_log).db)
    if args.staff_command == "list":
        for row in accounts.names():
            print(f"{row['name']}\tadded {row['created']}\tlast sign-in {row['last_sign_in'] or 'never'}")
        return 0
    if args.staff_command == "remove":
        accounts.remove(args.name)
        print(f"removed staff account {args.name}")
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = getpass.getpass(f"password for {args.name}: ")
        if password != getpass.getpass("again: "):
            print("error: the two passwords differ; nothing changed", file=sys.stderr)
            return 2
    getattr(accounts, args.staff_command)(args.name, password)
    print(f"{'added' if args.staff_command == 'add' else 'changed the password of'} staff account {args.name}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    limit_heap_growth()
    overrides = {k: v for k, v in vars(args).items() if k in Config.__dataclass_fields__ and v is not None}
    try:
        config = Config.from_env(**overrides)
        handler = {"index": cmd_index, "ask": cmd_ask, "serve": cmd_serve, "import": cmd_import,
                   "audit": cmd_audit, "staff": cmd_staff}.get(args.command) or args.handler
        return handler(args, config)
    except RagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the previous index (if any) is unchanged", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
