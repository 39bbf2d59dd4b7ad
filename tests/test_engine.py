"""The engine's one entry point: ask(question, history) -> Answer with the public JSON contract."""
import shutil

import pytest

from conftest import SEEDS, write_doc
from rag import build_index
from rag import engine as engine_module
from rag.engine import is_follow_up, open_engine, retrieval_query

CONTRACT = {"question", "status", "answer", "sentences", "citations", "searched_for", "timings_ms"}
CITATION = {"n", "doc_id", "title", "url", "section", "quote", "passage_id", "score", "last_reviewed", "review_overdue"}


def test_the_json_has_exactly_the_contract_fields(engine):
    out = engine.ask("what is daratumumab?").to_json()
    assert set(out) == CONTRACT
    assert out["status"] == "answered"
    assert set(out["citations"][0]) == CITATION
    assert set(out["sentences"][0]) == {"text", "citation"}
    assert set(out["timings_ms"]) == {"safety", "retrieve", "answer", "total"}


@pytest.mark.parametrize("question", ["what is the capital of australia", "write a haiku about autumn leaves",
                                      "how do I change a flat bicycle tyre"])
def test_questions_the_sources_do_not_cover_get_no_answer_and_no_citations(engine, question):
    ans = engine.ask(question)
    assert ans.status == "no_answer" and not ans.citations and not ans.sentences
    assert "care team" in ans.answer


def test_an_emergency_gets_urgent_guidance_and_no_retrieval(engine):
    ans = engine.ask("my wife can't breathe and her lips are blue")
    assert ans.status == "urgent" and "911" in ans.answer and not ans.citations


def test_dosing_questions_are_declined(engine):
    ans = engine.ask("how many mg of dexamethasone should I take for myeloma")
    assert ans.status == "no_answer" and "dose" in ans.answer and not ans.citations


def test_over_long_and_empty_questions_get_a_polite_message(engine):
    long = engine.ask("why " * 400)
    assert long.status == "no_answer" and "1,000 characters" in long.answer
    assert engine.ask("   ").status == "no_answer"


@pytest.mark.parametrize("question, follow", [("what are its side effects?", True), ("and for kids?", True),
                                              ("what are the side effects of daratumumab", False)])
def test_short_or_pronoun_led_questions_are_follow_ups(question, follow):
    assert is_follow_up(question) is follow


def test_a_follow_up_is_retrieved_together_with_the_topic_of_the_conversation(engine):
    history = ["what is daratumumab?"]
    assert retrieval_query("what are its side effects?", history) == "what is daratumumab? what are its side effects?"
    ans = engine.ask("what are its side effects?", history=history)
    assert ans.status == "answered"
    assert ans.citations[0].doc_id == "000_33357ef47611650a"


def test_timings_are_reported(engine):
    t = engine.ask("how is colon cancer treated").timings_ms
    assert t["total"] >= t["retrieve"] > 0


@pytest.mark.parametrize("question", ["how much does melanoma treatment cost", "which hospital is best for kidney cancer",
                                      "how many people got colon cancer in france in 2019",
                                      "who is the best myeloma doctor in boston"])
def test_an_aspect_the_sources_never_cover_gets_no_answer(engine, question):
    ans = engine.ask(question)
    assert ans.status == "no_answer" and not ans.citations


def test_the_classifier_refuses_an_absent_aspect_even_when_retrieval_finds_the_topic(engine):
    """Answerability's second layer: with the answerability model's cut at 0, the out-of-scope veto still refuses."""
    from rag import Engine

    loose = Engine(engine.config.replace(answerability_cut=0.0), engine.index, engine.embedder, engine.classifier)
    refused = loose.ask("how much does melanoma treatment cost")
    assert refused.status == "no_answer" and refused.reason == "out_of_scope"
    assert refused.safety["classifier"]["out_of_scope_score"] >= loose.out_of_scope_threshold
    assert loose.ask("how is melanoma treated").status == "answered"


def test_a_first_start_builds_the_index_in_a_child_process_and_serves_with_one_model_load(config, tmp_path, monkeypatch):
    loads = []
    real_embedder = engine_module.Embedder

    def counting_embedder(*args, **kwargs):
        loads.append(args)
        return real_embedder(*args, **kwargs)

    monkeypatch.setattr(engine_module, "Embedder", counting_embedder)
    docs = tmp_path / "docs"
    docs.mkdir()
    write_doc(docs, "nausea.md", "# Nausea\n\nAnti-nausea medicines help prevent the nausea caused by chemotherapy.\n")
    engine = open_engine(config.replace(docs_dir=docs, index_dir=tmp_path / "index"))
    # the build ran in a child process (its memory returned when it ended); the server loads the model once,
    # for the retriever and the safety classifier
    assert len(loads) == 1 and (tmp_path / "index" / "CURRENT").is_file()
    assert engine.ask("which medicines help with nausea from chemotherapy?").status == "answered"


def test_a_first_start_with_no_usable_documents_is_one_clear_error(config, tmp_path):
    """The child's failure reaches the parent as the same specific error, not a dead process or a traceback."""
    from rag.errors import NoDocumentsError

    empty = tmp_path / "docs"
    empty.mkdir()
    with pytest.raises(NoDocumentsError, match="no documents found"):
        open_engine(config.replace(docs_dir=empty, index_dir=tmp_path / "index"))


def test_the_library_lists_documents_whose_review_is_overdue_first(config, embedder, engine, tmp_path):
    from rag import Engine, build_index

    docs = tmp_path / "docs"
    docs.mkdir()
    write_doc(docs, "a-current.md", title="Current", lastReviewed="'2026-10-01'", reviewFrequency="annually")
    write_doc(docs, "b-undated.md", title="Undated")
    write_doc(docs, "c-overdue.md", title="Overdue", lastReviewed="'2020-01-15'", reviewFrequency="annually")
    cfg = config.replace(docs_dir=docs, index_dir=tmp_path / "index")  # today is 2026-11-25
    report = build_index(cfg, embedder)
    assert [(o.path, o.due) for o in report.overdue] == [(str(docs / "c-overdue.md"), "2021-01-15")]
    library = Engine.load(cfg, embedder, engine.classifier).library()
    assert [(row["doc_id"], row["review"]) for row in library] == [
        ("c-overdue", "overdue"), ("a-current", "current"), ("b-undated", "unknown")]


# ---- answering patients the way they write (issue 16) ----------------------------------------------------
def test_a_trial_fact_typed_casually_is_answered_from_the_article(engine):
    """A trial's name is a rare library word: found in a passage, it counts toward answering (the dense
    similarity of such questions is low). Questions naming only the trial, not the drug, are still refused
    (the closing note of issue 16)."""
    ans = engine.ask("in the castor trial what was dara given with")
    assert ans.status == "answered" and ans.citations[0].doc_id == "000_33357ef47611650a"
    assert "bortezomib" in ans.answer and ans.searched_for and "daratumumab" in ans.searched_for


def test_personal_context_is_answered_with_the_care_team_note(engine):
    ans = engine.ask("my dad is 70 and was just diagnosed with multiple myeloma, what are the signs of it")
    assert ans.status == "answered" and "myeloma" in ans.citations[0].doc_id
    assert ans.answer.startswith("Only your care team can say whether this applies to you. Here is what my sources say:")
    plain = engine.ask("what are the signs of multiple myeloma")
    assert plain.status == "answered" and not plain.answer.startswith("Only your care team")


def test_a_message_asking_only_for_a_verdict_is_declined(engine):
    ans = engine.ask("I found a small lump in my neck yesterday. do I have cancer? yes or no")
    assert ans.status == "no_answer" and ans.reason == "personal_verdict" and not ans.citations


def test_a_verdict_asked_beside_a_general_question_answers_the_general_question_with_the_note(engine):
    ans = engine.ask("is my mole cancer? what are the warning signs of melanoma")
    assert ans.status == "answered" and "melanoma" in ans.citations[0].doc_id
    assert ans.answer.startswith("Only your care team can say")


@pytest.fixture(scope="module")
def siblings(config, embedder, engine, tmp_path_factory):
    """A library of two sibling pairs: the adult and childhood summaries of ALL and of AML."""
    from rag import Engine

    docs = tmp_path_factory.mktemp("siblings")
    for name in ("0000001_1-adult-all-treatment-pdq.md", "0000001_6-child-all-treatment-pdq.md",
                 "0000001_2-adult-aml-treatment-pdq.md", "0000001_7-child-aml-treatment-pdq.md"):
        shutil.copyfile(SEEDS / "pdq" / name, docs / name)
    cfg = config.replace(docs_dir=docs, index_dir=tmp_path_factory.mktemp("siblings-index"))
    build_index(cfg, embedder)
    return Engine.load(cfg, embedder, engine.classifier)


@pytest.mark.parametrize("question,doc", [
    ("my 5 year old has ALL, how is it treated", "0000001_6-child-all-treatment-pdq"),
    ("our daughter was diagnosed with acute lymphoblastic leukemia, what treatments are there", "0000001_6-child-all-treatment-pdq"),
    ("I'm 45 and have acute lymphoblastic leukemia, how is it treated", "0000001_1-adult-all-treatment-pdq"),
    ("how is AML treated in children", "0000001_7-child-aml-treatment-pdq"),
    ("my husband has acute myeloid leukemia, what are the treatment phases", "0000001_2-adult-aml-treatment-pdq"),
])
def test_the_child_or_adult_document_is_chosen_by_the_questions_wording(siblings, question, doc):
    ans = siblings.ask(question)
    assert ans.status == "answered" and ans.citations[0].doc_id == doc


def test_a_follow_up_about_a_named_cancer_keeps_the_topic_and_is_not_small_talk(engine):
    ans = engine.ask("who gets it?", ["what is multiple myeloma?"])
    assert ans.status == "answered" and "myeloma" in ans.citations[0].doc_id
    alone = engine.ask("who gets it?")
    assert not alone.citations
