"""What a question asks about its topic, and the section that answers it."""
import pytest

from rag.retrieval.aspects import question_aspect, section_of


@pytest.mark.parametrize("question, aspect", [
    ("are any clinical trials testing new melanoma drugs", "research"),
    ("are there new treatments being studied for kidney cancer", "research"),
    ("whats the prognosis like for colon cancer patients", "outlook"),
    ("which people are more likely to get skin cancer", "risk"),
    ("what causes multiple myeloma", "risk"),
    ("How to diagnose kidney cancer?", "diagnosis"),
    ("explain melanoma staging to me", "stages"),
    ("what are the signs of leukemia", "symptoms"),
    ("which treatments do doctors use for colon cancer", "treatment"),
    ("can retinoblastoma be passed down in families", "inheritance"),
])
def test_the_aspect_of_a_question_is_recognised(question, aspect):
    assert question_aspect(question).name == aspect


@pytest.mark.parametrize("question", ["What is melanoma?", "what is daratumumab", "what eye cancer causes a white pupil"])
def test_a_definition_or_a_which_question_has_no_section_aspect(question):
    assert question_aspect(question) is None


def test_the_section_is_the_document_level_heading():
    assert section_of(["# Kidney Cancer Treatment", "## Risk factors", "### Smoking"]) == "Risk factors"
    assert section_of(["# Title only"]) == ""


@pytest.mark.parametrize("question, section", [
    ("which people are at risk of adult acute lymphoblastic leukemia", "Risk factors"),
    ("explain melanoma staging to me", "Stages"),
    ("what research is being done for colon cancer", "Clinical trials"),
])
def test_the_answer_quotes_the_section_on_the_asked_aspect(engine, question, section):
    ans = engine.ask(question)
    assert ans.status == "answered"
    assert section in ans.citations[0].section, [c.section for c in ans.citations]
