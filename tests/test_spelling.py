"""Misspelled library words are corrected before retrieval, ordinary words and rare right words are left alone,
listed short forms are expanded, and the patient sees what was searched."""
import pytest

from rag.message.spelling import Searched, SpellingCorrector, read_abbreviations

LIBRARY = ["Daratumumab is a monoclonal antibody used in multiple myeloma. Neuroblastoma is a cancer of nerve tissue.",
           "Acute lymphoblastic leukemia (ALL) is treated with chemotherapy. The POLLUX trial enrolled patients.",
           "Signs of leukemia include fever and bruising. Epstein-Barr virus and Hodgkin lymphoma."]


@pytest.fixture(scope="module")
def speller():
    return SpellingCorrector(LIBRARY, {"dx": ("diagnosis", False), "mets": ("metastasis", False),
                                       "all": ("acute lymphoblastic leukemia", True)})


@pytest.mark.parametrize("typed, fixed", [
    ("daratumamab", "daratumumab"), ("nuroblastoma", "neuroblastoma"), ("leukimia", "leukemia"),
    ("lymphona", "lymphoma"), ("epstien", "epstein"),
])
def test_a_misspelled_library_word_is_corrected(speller, typed, fixed):
    assert speller.correct_word(typed) == fixed


@pytest.mark.parametrize("word", ["lump", "worried", "grandmother", "POLLUX", "daratumumab", "scan", "lol", "AML"])
def test_ordinary_and_rare_right_words_are_left_alone(speller, word):
    assert speller.correct_word(word) is None


def test_short_forms_are_expanded_and_capitals_only_where_the_table_says(speller):
    searched = speller.search("dx last year, now mets in the liver")
    assert dict(searched.fixes) == {"dx": "diagnosis", "mets": "metastasis"}
    assert speller.search("my son has ALL").fixes == (("ALL", "acute lymphoblastic leukemia"),)
    assert speller.search("is that all there is").fixes == ()


def test_retrieval_sees_the_original_and_the_corrections_and_the_patient_sees_the_corrected_question():
    searched = Searched("waht is nuroblastoma", (("waht", "what"), ("nuroblastoma", "neuroblastoma")))
    assert searched.text == "what is neuroblastoma"
    assert searched.query == "waht is nuroblastoma what neuroblastoma"  # nothing typed is lost


def test_the_shipped_abbreviation_table_reads():
    table = read_abbreviations()
    assert table["dx"][0] and table["mets"][0]


def test_the_engine_answers_a_misspelled_question_and_says_what_it_searched(engine):
    ans = engine.ask("how is multipel myeloma treatd with daratumamab")
    assert ans.status == "answered" and ans.searched_for and "daratumumab" in ans.searched_for
    assert ans.to_json()["searched_for"] == ans.searched_for
    clean = engine.ask("how is multiple myeloma treated with daratumumab")
    assert clean.searched_for is None and clean.citations[0].doc_id == ans.citations[0].doc_id
