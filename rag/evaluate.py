"""Evaluation: run labeled question files through the engine and measure it (rag eval, rag calibrate)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .errors import QuestionFileError


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line is an error naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise QuestionFileError(f"{path}: file not found")
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise QuestionFileError(f"{path}:{no}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise QuestionFileError(f"{path}:{no}: expected a JSON object")
            yield no, row


def add_commands(sub, common) -> None:
    """eval and calibrate subcommands (filled in by the evaluation issue)."""
