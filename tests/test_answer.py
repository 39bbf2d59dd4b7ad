"""Answers are verbatim sentences of retrieved passages, each with a numbered citation."""
import re

import pytest

from rag.ingest.documents import load_document


def norm(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def doc_texts(engine):
    return {d: norm(load_document(__import__("pathlib").Path(info.path)).text) for d, info in engine.index.docs.items()}


QUESTIONS = ["what is daratumumab?", "what are the symptoms of multiple myeloma?", "how is colon cancer treated",
             "what are the risk factors for kidney cancer", "how is adult acute lymphoblastic leukemia diagnosed"]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_answer_sentence_is_verbatim_in_its_cited_document(engine, doc_texts, question):
    ans = engine.ask(question)
    assert ans.status == "answered" and ans.sentences
    for s in ans.sentences:
        passages = [c for c in ans.citations if c.n == s.citation]
        assert passages and norm(s.text) in doc_texts[passages[0].doc_id]
        assert any(norm(s.text) in norm(c.quote) for c in passages)


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_answer_text_is_the_sentences_with_their_markers(engine, question):
    ans = engine.ask(question)
    for s in ans.sentences:
        assert f"{s.text} [{s.citation}]" in ans.answer
    assert sorted({int(n) for n in re.findall(r"\[(\d+)\]", ans.answer)}) == sorted({c.n for c in ans.citations})


@pytest.mark.parametrize("question", QUESTIONS)
def test_one_number_per_source_document_in_order_of_first_use(engine, question):
    ans = engine.ask(question)
    number_of = {}
    for c in ans.citations:
        assert number_of.setdefault(c.doc_id, c.n) == c.n  # every passage of a document has the document's number
    assert len(set(number_of.values())) == len(number_of)  # and documents do not share one
    first_use = list(dict.fromkeys(s.citation for s in ans.sentences))
    assert first_use == sorted(first_use) and first_use[0] == 1


def test_citations_carry_source_section_score_and_review_state(engine):
    ans = engine.ask("what is daratumumab?")
    c = ans.citations[0]
    assert c.doc_id == "000_33357ef47611650a" and c.url.startswith("https://www.cancer.gov/")
    assert c.section.startswith("# ") and c.passage_id.startswith(c.doc_id + "#")
    assert c.last_reviewed == "2025-12-30" and c.review_overdue is True  # quarterly review, "today" is 2026-11-25
    assert 0 < c.score <= 1
    pdq = engine.ask("what are the symptoms of multiple myeloma?").citations[0]
    assert pdq.last_reviewed is None and pdq.review_overdue is None


def test_a_definition_question_leads_with_the_definition(engine):
    ans = engine.ask("what is daratumumab?")
    assert ans.sentences[0].text.startswith("Daratumumab is a monoclonal antibody")


def test_a_sentence_that_introduces_a_list_brings_the_list(engine):
    ans = engine.ask("what are the risk factors for melanoma")
    intro = [i for i, s in enumerate(ans.sentences) if s.text.endswith(":")]
    assert intro and len(ans.sentences) > intro[0] + 1


def test_only_a_bare_what_is_question_asks_for_a_definition():
    from rag.answer.compose import is_definition_question

    assert is_definition_question("What is thymoma?")
    assert is_definition_question("what are plasma cell neoplasms")
    assert not is_definition_question("What is the outlook for thymoma?")
    assert not is_definition_question("how is thymoma treated")


@pytest.mark.parametrize("question", QUESTIONS + ["what are the risk factors for melanoma"])
def test_no_sentence_is_quoted_twice(engine, question):
    texts = [s.text for s in engine.ask(question).sentences]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("sentence, quoted", [
    ("Stage I multiple myeloma In stage I multiple myeloma, the plasma cells are found in the bone marrow.",
     "In stage I multiple myeloma, the plasma cells are found in the bone marrow."),
    ("Progressive hairy cell leukemia In progressive hairy cell leukemia, the leukemia has been treated.",
     "In progressive hairy cell leukemia, the leukemia has been treated."),
    ("Adult acute myeloid leukemia (AML) is a cancer of the blood.", "Adult acute myeloid leukemia (AML) is a cancer of the blood."),
    ("Surgery Surgery (removing the cancer in an operation) is the most common treatment.",
     "Surgery (removing the cancer in an operation) is the most common treatment."),
    ("Chemotherapy Is a treatment that uses drugs to stop the growth of cancer cells.",
     "Chemotherapy Is a treatment that uses drugs to stop the growth of cancer cells."),
    ("Diet It is not known if a diet low in fat lowers the risk of colorectal cancer.",
     "It is not known if a diet low in fat lowers the risk of colorectal cancer."),
    ("Floor of the mouth If cancer is in the floor of the mouth, treatment may include the following:",
     "If cancer is in the floor of the mouth, treatment may include the following:"),
    ("Aspirin Studies have shown that taking aspirin lowers the risk of colorectal cancer.",
     "Studies have shown that taking aspirin lowers the risk of colorectal cancer."),
    ("People with hepatitis A usually get better without treatment.",
     "People with hepatitis A usually get better without treatment."),
    ("Vitamin A is a nutrient found in many foods.", "Vitamin A is a nutrient found in many foods."),
    ("In most cases, The Lancet is cited.", "In most cases, The Lancet is cited."),
])
def test_a_heading_run_into_its_sentence_is_not_quoted(sentence, quoted):
    from rag.answer.compose import run_in_heading_length

    assert sentence[run_in_heading_length(sentence):] == quoted


@pytest.mark.parametrize("text, heading", [
    ("Newly Diagnosed Childhood Acute Lymphoblastic Leukemia (High Risk)", True),
    ("Key Points", True),
    ("A clinical trial of arsenic trioxide.", False),
    ("Signs of AIDS-related lymphoma include weight loss, fever, and night sweats", False),
])
def test_a_bare_heading_is_never_a_sentence(text, heading):
    from rag.answer.compose import is_bare_heading

    assert is_bare_heading(text) is heading


@pytest.mark.parametrize("question", ["what happens in stage I multiple myeloma", "what is stage II melanoma"])
def test_quotes_stay_verbatim_and_start_after_any_run_in_heading(engine, doc_texts, question):
    from rag.answer.compose import run_in_heading_length

    ans = engine.ask(question)
    assert ans.status == "answered"
    for s in ans.sentences:
        assert norm(s.text) in doc_texts[next(c.doc_id for c in ans.citations if c.n == s.citation)]
        assert run_in_heading_length(s.text) == 0


@pytest.mark.parametrize("question, kind", [
    ("how many patients were in the pollux trial", "count"), ("how long were patients followed up", "duration"),
    ("when was daratumumab approved", "date"), ("how common are infusion reactions", "rate"),
    ("what is daratumumab", None),
])
def test_a_question_asking_for_a_value_names_its_kind(question, kind):
    from rag.answer.compose import fact_kind

    found = fact_kind(question)
    assert (found[0] if found else None) == kind


@pytest.mark.parametrize("question, value", [
    ("how many patients with myeloma enrolled in POLLUX", "569"),
    ("what percent of people on daratumumab had infusion reactions", "47.7%"),
])
def test_a_question_asking_for_a_value_gets_the_sentence_holding_it_and_little_else(engine, question, value):
    ans = engine.ask(question, threshold=-1.0)
    assert value in ans.sentences[0].text
    assert len(ans.sentences) <= 2


def test_sentences_are_chosen_by_meaning_as_well_as_words(engine):
    """'go without their myeloma worsening' shares no word with 'progression': the sentence vectors find it;
    words alone pick a sentence that merely says 'longer'."""
    from rag import Engine

    question = "how much longer do people go without their myeloma worsening on daratumumab"
    words_only = Engine(engine.config.replace(sentence_semantic_weight=0.0), engine.index, engine.embedder,
                        engine.classifier)
    assert not any("progression" in s.text.lower() for s in words_only.ask(question).sentences)
    assert any("progression" in s.text.lower() for s in engine.ask(question).sentences)
