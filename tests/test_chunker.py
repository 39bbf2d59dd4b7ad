import pytest

from conftest import SEEDS, write_doc
from rag.ingest.chunker import chunk_document, short_title, split_sentences
from rag.ingest.documents import load_document, load_documents


@pytest.fixture(scope="module")
def myeloma(embedder):
    doc = load_document(SEEDS / "pdq/0000030_1-myeloma-treatment-pdq.md")
    return doc, chunk_document(doc, embedder.count_tokens, 200, 1)


def test_sentences_split_at_boundaries_but_not_after_abbreviations_or_initials():
    text = "Meletios A. Dimopoulos, M.D., reported it. Dr. Little agreed. Stages are I to IV.Signs follow."
    got = [text[s.start:s.end] for s in split_sentences(text)]
    assert got == ["Meletios A. Dimopoulos, M.D., reported it.", "Dr. Little agreed.", "Stages are I to IV.", "Signs follow."]


def test_each_list_item_is_its_own_sentence_without_its_bullet():
    text = "Symptoms include:\n- Fever.\n- Feeling tired.\n"
    assert [text[s.start:s.end] for s in split_sentences(text)] == ["Symptoms include:", "Fever.", "Feeling tired."]


def test_passages_carry_the_heading_path(myeloma):
    doc, chunks = myeloma
    assert all(c.heading_path[0] == f"# {doc.title}" for c in chunks)
    assert any(c.section.endswith("## Stages") for c in chunks)


def test_offsets_point_into_the_cleaned_document_text(myeloma):
    doc, chunks = myeloma
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        for s, e in c.sentences:
            assert c.start <= s < e <= c.end


def test_no_passage_cuts_a_sentence(myeloma):
    doc, chunks = myeloma
    starts = {s.start for s in split_sentences(doc.text)}
    ends = {s.end for s in split_sentences(doc.text)}
    assert all(c.start in starts and c.end in ends for c in chunks)


@pytest.mark.parametrize("max_tokens", [96, 200, 256])
def test_no_passage_is_truncated_by_the_model(embedder, max_tokens):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(embedder.model_dir / "tokenizer.json"))  # the model's own, untruncated
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the file pads to 128
    docs = load_documents(SEEDS).documents[:20]
    for doc in docs:
        for c in chunk_document(doc, embedder.count_tokens, max_tokens, 1):
            n = len(tokenizer.encode(c.embed_text).ids)  # with [CLS]/[SEP]
            assert n <= min(max_tokens, embedder.max_seq_length), (c.passage_id, n)


def test_neighbouring_passages_overlap_by_one_sentence(myeloma):
    _, chunks = myeloma
    same_section = [(a, b) for a, b in zip(chunks, chunks[1:]) if a.section == b.section]
    assert same_section and all(a.sentences[-1] == b.sentences[0] for a, b in same_section)


def test_link_syntax_is_not_embedded(embedder):
    doc = load_document(SEEDS / "000_33357ef47611650a.txt")
    chunks = chunk_document(doc, embedder.count_tokens)
    assert not any("](" in c.embed_text or "](" in c.text for c in chunks)


def test_passage_ids_are_stable_when_the_text_does_not_change(embedder, tmp_path):
    body = "# T\n\n## Part one\n\nAlpha beta gamma. Delta epsilon.\n\n## Part two\n\nZeta eta theta.\n"
    path = write_doc(tmp_path, "d.md", body)
    first = [c.passage_id for c in chunk_document(load_document(path), embedder.count_tokens)]
    again = [c.passage_id for c in chunk_document(load_document(path), embedder.count_tokens)]
    path.write_text(path.read_text().replace("Zeta eta theta.", "Zeta eta iota."))
    changed = [c.passage_id for c in chunk_document(load_document(path), embedder.count_tokens)]
    assert first == again
    assert changed[0] == first[0] and changed[1] != first[1]


def test_the_embedding_prefix_uses_a_short_title():
    assert short_title("Adult Acute Lymphoblastic Leukemia Treatment (PDQ®) – Patient Version") == \
        "Adult Acute Lymphoblastic Leukemia Treatment"
    assert short_title("Daratumumab Improves Survival - NCI") == "Daratumumab Improves Survival"


def test_each_sentence_can_be_found_in_the_text_the_model_embeds(engine):
    """Sentence vectors are pooled from the passage's own forward pass: the spans must point at the sentences."""
    import re

    for chunk in engine.index.chunks[:200]:
        body = chunk.embed_text[len(chunk.prefix) + 2:]
        spans = chunk.body_sentence_spans()
        assert len(spans) == len(chunk.sentences)
        for (a, b), (s, e) in zip(spans, chunk.sentences):
            assert body[a:b] == re.sub(r"\s+", " ", chunk.text[s - chunk.start:e - chunk.start])
