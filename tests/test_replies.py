"""Replies are data, one file per language; a clinic adds a language (or rewords one) without code."""
from pathlib import Path

import pytest
import yaml

from rag.errors import RepliesError
from rag.message.replies import REPLIES_DIR, ReplyCatalog


def test_every_shipped_language_has_every_reply_with_the_numbers_filled_in():
    catalog = ReplyCatalog.load(care_team_phone="+1 555 0100", emergency_number="999")
    assert {"en", "es"} <= set(catalog.languages)
    for replies in catalog.languages.values():
        assert set(replies.texts) == set(catalog.english.texts)
        for key in ("medical_emergency", "crisis", "junk", "other_language"):
            assert "999" in replies[key] and "911" not in replies[key], (replies.code, key)
        assert "+1 555 0100" in replies["chemo_fever"]
        assert "988" in replies["crisis"]
        assert not any("{emergency" in t or "{team" in t for t in replies.texts.values())


def test_spanish_replies_are_in_spanish():
    es = ReplyCatalog.load().get("es")
    assert "emergencia" in es["medical_emergency"] and "llame" in es["medical_emergency"].lower()
    assert es["no_answer"].startswith("Lo siento") and "inglés" in es["sources_in_english"]


def _french(folder: Path, drop: str | None = None, extra: str = "") -> Path:
    data = yaml.safe_load((REPLIES_DIR / "en.yaml").read_text(encoding="utf-8"))
    data["code"], data["name"] = "fr", "français"
    data["replies"]["no_answer"] = "Désolé : mes sources fiables ne traitent pas cette question."
    data["replies"]["sources_in_english"] = "Pour l'instant je ne peux répondre qu'avec des documents en anglais :"
    data["replies"]["medical_emergency"] = "Ceci peut être une urgence médicale. {Emergency} maintenant." + extra
    if drop:
        del data["replies"][drop]
    path = folder / "fr.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_clinic_adds_a_language_with_one_file(tmp_path):
    _french(tmp_path)
    catalog = ReplyCatalog.load(tmp_path, emergency_number="112")
    assert catalog.get("fr")["medical_emergency"] == "Ceci peut être une urgence médicale. Call 112 maintenant."
    assert "français" in catalog.names()


def test_a_clinic_file_missing_a_reply_is_refused_by_name(tmp_path):
    path = _french(tmp_path, drop="crisis")
    with pytest.raises(RepliesError, match=r"fr\.yaml: replies lacks crisis"):
        ReplyCatalog.load(tmp_path)
    _french(tmp_path, extra=" {hotline}")
    with pytest.raises(RepliesError, match=r"fr\.yaml: replies.medical_emergency names hotline"):
        ReplyCatalog.load(tmp_path)
    _french(tmp_path, extra=" {oops")
    with pytest.raises(RepliesError, match=r"fr\.yaml: replies.medical_emergency: .*braces"):
        ReplyCatalog.load(tmp_path)
    path.write_text("code: fr\n", encoding="utf-8")
    with pytest.raises(RepliesError, match=r"fr\.yaml: needs the sections"):
        ReplyCatalog.load(tmp_path)


def test_a_missing_replies_folder_is_named(tmp_path):
    with pytest.raises(RepliesError, match="RAG_REPLIES_DIR"):
        ReplyCatalog.load(tmp_path / "nope")


def test_the_engine_answers_a_clinic_added_language_in_it(engine, tmp_path):
    from rag import Engine

    _french(tmp_path)
    french = Engine(engine.config.replace(replies_dir=tmp_path), engine.index, engine.embedder, engine.classifier)
    ans = french.ask("Quels sont les traitements du cancer du rein chez l'adulte et quels sont leurs effets ?")
    assert ans.language == "fr"
    assert ans.answer.startswith(("Désolé", "Pour l'instant"))
