"""The fixed replies in each language the bot speaks, kept as data (`replies/<code>.yaml`, one file a language).

A clinic adds a language, or rewords one, by putting `<code>.yaml` with the same keys in its own folder
(`RAG_REPLIES_DIR`); its file wins over the shipped one of the same code. Every file must hold every key of the
English file, so no patient ever meets a missing reply."""
from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import RepliesError

REPLIES_DIR = Path(__file__).with_name("replies")
SECTIONS = ("numbers", "replies", "ui")
# what a reply may name; each reply is filled once, when the catalog loads (length/limit/language: per message)
_LATE = ("length", "limit", "language", "languages")


@dataclass(frozen=True)
class Replies:
    """One language's replies, with the clinic's numbers already filled in."""
    code: str
    name: str
    texts: Mapping[str, str]
    ui: Mapping[str, str]

    def __getitem__(self, key: str) -> str:
        return self.texts[key]

    def reply(self, key: str, **late: Any) -> str:
        """A reply that names something known only per message (the message's length, the language seen)."""
        return self.texts[key].format(**{**{k: "{" + k + "}" for k in _LATE}, **late})


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise RepliesError(f"{path}: cannot read the replies file ({err})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(s), dict) for s in SECTIONS):
        raise RepliesError(f"{path}: needs the sections {', '.join(SECTIONS)} (copy {REPLIES_DIR / 'en.yaml'})")
    return data


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class ReplyCatalog:
    """Every language's replies. English is the reference: its keys are the ones every other file must have."""

    def __init__(self, languages: Mapping[str, Replies]):
        self.languages = dict(languages)

    @classmethod
    def load(cls, extra_dir: Path | None = None, *, care_team_phone: str | None = None,
             emergency_number: str | None = None, crisis_line: str = "988") -> "ReplyCatalog":
        files = {p.stem: p for p in sorted(REPLIES_DIR.glob("*.yaml"))}
        if extra_dir is not None:
            extra_dir = Path(extra_dir)
            if not extra_dir.is_dir():
                raise RepliesError(f"{extra_dir}: replies folder not found (RAG_REPLIES_DIR)")
            files.update({p.stem: p for p in sorted(extra_dir.glob("*.yaml"))})
        if "en" not in files:
            raise RepliesError(f"{REPLIES_DIR}: the English replies are missing (reinstall the package)")
        reference = _read(files["en"])
        languages = {}
        for code, path in files.items():
            data = reference if code == "en" else _read(path)
            languages[code] = _build(code, path, data, reference, care_team_phone, emergency_number, crisis_line)
        return cls(languages)

    def get(self, code: str) -> Replies | None:
        return self.languages.get(code)

    @property
    def english(self) -> Replies:
        return self.languages["en"]

    def names(self) -> str:
        """'English or español' — the languages a patient can be answered in, each in its own name."""
        names = [r.name for r in self.languages.values()]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _build(code: str, path: Path, data: dict[str, Any], reference: dict[str, Any], care_team_phone: str | None,
           emergency_number: str | None, crisis_line: str) -> Replies:
    for section in SECTIONS:
        missing = sorted(set(reference[section]) - set(data[section]))
        if missing:
            raise RepliesError(f"{path}: {section} lacks {', '.join(missing)} (every key of "
                               f"{REPLIES_DIR / 'en.yaml'} is needed)")
        for key, value in data[section].items():
            if not isinstance(value, str):
                raise RepliesError(f"{path}: {section}.{key} must be text")
    numbers = data["numbers"]
    emergency = (numbers["emergency"].format(emergency_number=emergency_number) if emergency_number
                 else numbers["emergency_default"])
    team = numbers["team"].format(care_team_phone=care_team_phone) if care_team_phone else numbers["team_default"]
    the_team = (numbers["the_team"].format(care_team_phone=care_team_phone) if care_team_phone
                else numbers["the_team_default"])
    values = {"emergency": emergency, "Emergency": emergency[:1].upper() + emergency[1:], "team": team,
              "the_team": the_team, "crisis_line": crisis_line}
    texts = {}
    for key, template in data["replies"].items():
        try:
            unknown = _fields(template) - set(values) - set(_LATE)
        except ValueError as err:  # an unmatched "{" or "}"
            raise RepliesError(f"{path}: replies.{key}: {err} (write braces only around a placeholder)") from None
        if unknown:
            raise RepliesError(f"{path}: replies.{key} names {', '.join(sorted(unknown))}; "
                               f"known: {', '.join(sorted(set(values) | set(_LATE)))}")
        texts[key] = " ".join(template.format(**values, **{k: "{" + k + "}" for k in _LATE}).split())
    return Replies(code, str(data.get("name") or code), texts, {k: " ".join(v.split()) for k, v in data["ui"].items()})
