from rag.retrieval.lexical import LexicalIndex, expand, term_groups, tokenize


def test_terms_are_stemmed_and_question_words_dropped():
    assert tokenize("What are the symptoms of leukemia?") == ["symptom", "leukemia"]


def test_hyphenated_words_keep_their_parts_but_not_after_a_negating_prefix():
    assert set(tokenize("progression-free survival")) >= {"progression-fre", "progress", "free"}
    assert "hodgkin" not in tokenize("non-Hodgkin lymphoma")


def test_a_lay_word_matches_the_words_the_documents_use():
    groups = term_groups("Outlook for someone with hairy cell leukemia?")
    assert {"outlook", "prognosi"} <= groups[0]
    assert "childhood" in expand("liver cancer in kids")


def test_bm25_scores_survive_a_save_and_load(tmp_path):
    docs = [tokenize(t) for t in ["daratumumab for myeloma", "melanoma of the skin", "colon cancer surgery"]]
    index = LexicalIndex.build(docs)
    index.save(tmp_path)
    again = LexicalIndex.load(tmp_path)
    assert list(again.scores(tokenize("skin melanoma")).round(4)) == list(index.scores(tokenize("skin melanoma")).round(4))
    assert again.scores(tokenize("skin melanoma")).argmax() == 1
    assert not again.scores(["unknownword"]).any()
    assert again.idf("unknownword") > again.idf("melanoma")
