"""The patient's language decides the reply's: Spanish and English by the detector (py3langid, restricted), other
languages only when the detector is sure, and a few words by the conversation or the bank's nearest example."""
import pytest

from rag.message.language import LanguageDetector, word_count


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(["en", "es"], min_confidence=0.2, other_min_confidence=0.5)


@pytest.mark.parametrize("text, code", [
    ("how is stage three colon cancer treated", "en"),
    ("what does smouldering myeloma mean for my dad", "en"),
    ("a mi esposo le encontraron un melanoma en la espalda, ¿cómo se trata?", "es"),
    ("tengo mucho miedo, mi hija tiene leucemia y no entiendo los estadios", "es"),
    ("mi mama tiene cancer de colon q tratamiento le van a dar", "es"),  # no accents, texting
    ("Mon père a un cancer du rein, quels sont les traitements possibles ?", "fr"),
    ("我的母亲得了结肠癌，应该怎么治疗", "zh"),
])
def test_languages_are_recognised(detector, text, code):
    assert detector.detect(text).code == code


@pytest.mark.parametrize("text", ["ok", "AML", "CLL stage", "tamoxifen"])
def test_a_few_language_neutral_words_default_to_english(detector, text):
    assert detector.detect(text).code == "en"


def test_a_short_message_follows_the_conversation(detector):
    found = detector.detect("y la quimio?", earlier="es")
    assert found.code == "es"
    assert detector.detect("ok", earlier="es").how in ("history", "detector")


def test_a_short_message_nearly_identical_to_a_bank_example_takes_its_language(detector):
    found = detector.detect("hola", nearest=("es", 0.97))
    assert (found.code, found.how) == ("es", "bank")
    assert detector.detect("hola", nearest=("es", 0.5)).code == "en"  # not close enough: no guess
    assert detector.detect("hello", nearest=("en", 0.99), earlier="es").code == "en"  # the bank knows it, whatever came before


def test_words_are_counted_in_scripts_without_spaces():
    assert word_count("what is AML") == 3
    assert word_count("我的母亲得了结肠癌") == 5


def test_a_message_in_the_librarys_own_words_is_never_taken_for_another_language(detector):
    text = "What is (are) Paranasal Sinus and Nasal Cavity Cancer ?"  # py3langid: Tagalog 0.60
    assert detector.detect(text).code != "en"
    assert detector.detect(text, lexicon={"en": 0.9}).code == "en"
