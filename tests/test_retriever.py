import pytest

from rag.retrieval.retriever import doc_ranking


def test_hybrid_search_finds_the_document_that_answers(engine):
    hits = engine.search("what are the signs of multiple myeloma", k=5)
    assert hits[0].chunk.doc_id.startswith("0000030_1")
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]


def test_each_hit_reports_its_dense_and_lexical_evidence(engine):
    hits = engine.search("daratumumab lenalidomide dexamethasone progression-free survival", k=5)
    top = hits[0]
    assert top.chunk.doc_id == "000_33357ef47611650a"
    assert 0 < top.dense <= 1 and top.lexical > 0 and top.dense_rank and top.lexical_rank


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_single_list_modes_exist_for_comparison(engine, mode):
    hits = engine.search("melanoma of the skin", k=3, mode=mode)
    assert hits and all((h.dense_rank if mode == "dense" else h.lexical_rank) for h in hits)


def test_metadata_filters_keep_only_matching_documents(engine):
    hits = engine.search("treatment options", k=5, filters={"cancerTypes": "skin"})
    assert hits and {h.chunk.doc_id[:9] for h in hits} <= {"0000028_1", "0000028_2"}
    assert engine.search("treatment options", k=5, filters={"language": "fr"}) == []


def test_an_unknown_filter_is_refused(engine):
    with pytest.raises(ValueError, match="cancerTypes"):
        engine.search("x", filters={"colour": "blue"})


def test_identical_boilerplate_from_several_documents_appears_once(engine):
    hits = engine.search("Patients may want to think about taking part in a clinical trial", k=5)
    assert len({h.chunk.body_hash for h in hits}) == len(hits)
    texts = [" ".join(h.chunk.text.split()) for h in hits]
    assert len(set(texts)) == len(texts)


def test_doc_ranking_lists_each_document_once_in_hit_order(engine):
    hits = engine.search("skin cancer", k=5)
    ranking = doc_ranking(hits)
    assert len(ranking) == len(set(ranking)) and ranking[0] == hits[0].chunk.doc_id


def test_a_passage_holding_more_of_the_question_ranks_higher(engine):
    from rag.retrieval.retriever import passage_coverage

    hits = engine.search("risk factors for renal cell cancer smoking", k=5)
    assert hits[0].chunk.doc_id.startswith("0000026_1")
    assert hits[0].coverage == max(h.coverage for h in hits) > 0.5
    cov = passage_coverage("daratumumab lenalidomide", [hits[0].row], engine.index)
    assert cov[hits[0].row] == 0.0
