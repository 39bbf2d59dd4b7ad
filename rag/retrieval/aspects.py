"""What a question asks about a topic (its aspect), and which document sections treat that aspect.

Patient summaries are written in named sections ("Signs and symptoms", "Risk factors", "Clinical trials"); a
question about symptoms is answered by the symptoms section, not by the passage that happens to repeat the
disease's name most often. The first aspect whose cue matches wins, so the narrower ones come first
("what research is being done on new treatments" asks about research, not treatment).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Aspect:
    name: str
    question: re.Pattern  # cue in the question
    section: re.Pattern  # matching section heading (the document's "## …" level)


def _aspect(name: str, question: str, section: str) -> Aspect:
    return Aspect(name, re.compile(question, re.I), re.compile(section, re.I))


ASPECTS: tuple[Aspect, ...] = (
    _aspect("research", r"\b(?:research|clinical trials?|studies|being studied|experimental|new treatments?)\b",
            r"clinical trials"),
    _aspect("outlook", r"\b(?:outlook|prognosis|surviv\w*|chances?|life expectancy|recover\w*|curable)\b",
            r"prognosis"),
    _aspect("screening", r"\bscreen\w*\b", r"screening"),
    _aspect("prevention", r"\b(?:prevent\w*|avoid|lower (?:the|my|your) risk|reduce (?:the|my|your) risk)\b",
            r"prevention"),
    _aspect("inheritance", r"\b(?:inherit\w*|hereditary|run(?:s)? in (?:the )?famil\w*|passed down)\b",
            r"inheritance|genetic"),
    _aspect("risk", r"\b(?:at risk|risk factors?|what causes|causes? of|caused by|who gets|more likely|chance of getting|"
                    r"susceptib\w*)\b", r"risk factors|causes"),
    _aspect("stages", r"\b(?:stages?|staging|how advanced)\b", r"^stages"),
    _aspect("symptoms", r"\b(?:symptoms?|signs?|warning signs)\b", r"symptoms"),
    _aspect("diagnosis", r"\b(?:diagnos\w*|tests?|detect\w*|find out if|biops\w*)\b", r"tests|diagnosis"),
    _aspect("treatment", r"\b(?:treat\w*|therap\w*|cure|managed?)\b", r"^treatment"),
)


def question_aspect(question: str) -> Aspect | None:
    """The aspect a question asks about, or None (a definition, or a question the table does not know)."""
    for aspect in ASPECTS:
        if aspect.question.search(question):
            return aspect
    return None


def section_of(heading_path: list[str]) -> str:
    """The document-level section of a passage ("## Risk factors" -> "Risk factors")."""
    return heading_path[1].lstrip("#").strip() if len(heading_path) > 1 else ""
