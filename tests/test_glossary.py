"""A question in Spanish searches the English library through the reviewed glossary; cognates and names the
library uses are kept, other words dropped."""
from rag.message.glossary import Glossary


def test_shipped_spanish_glossary_renders_medical_phrases_in_the_documents_words():
    glossary = Glossary.load("es")
    known = {"melanoma", "ewing", "daratumumab"}.__contains__
    assert "breast cancer" in glossary.english_query("¿tengo que dejar de dar pecho si me operan de cáncer de mama?", known)
    assert "kidney cancer" in glossary.english_query("fumar puede causar cancer de riñon?", known)  # no accents typed


def test_unlisted_words_are_kept_only_when_the_library_uses_them():
    glossary = Glossary([("qué es", "what is")])
    query = glossary.english_query("¿Qué es el sarcoma de Ewing?", {"sarcoma", "ewing"}.__contains__)
    assert query == "what is sarcoma Ewing"


def test_the_longest_listed_phrase_wins():
    glossary = Glossary([("cáncer", "cancer"), ("cáncer de pulmón", "lung cancer")])
    assert glossary.english_query("cancer de pulmon", lambda w: False) == "lung cancer"


def test_a_language_without_a_glossary_has_none(tmp_path):
    assert Glossary.load("xx", tmp_path) is None
