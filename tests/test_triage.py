"""The semantic layer's data and model: the shipped bank, a clinic's own examples, folds that keep paraphrases
together, and a classifier that learns from what a clinic adds — on the real model."""
import json

import numpy as np
import pytest

from rag import Engine
from rag.errors import SafetyBankError
from rag.safety.triage import (DECLINE_LABELS, LABELS, URGENT_LABELS, SafetyClassifier, embed_bank, group_folds,
                        load_bank, load_classifier)


def write_examples(folder, rows, name="clinic.jsonl"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return folder


def test_the_shipped_bank_covers_every_category_with_enough_examples():
    bank = load_bank()
    counts = {label: sum(e.label == label for e in bank) for label in LABELS}
    assert all(counts[label] >= 25 for label in URGENT_LABELS), counts
    assert sum(counts[label] for label in DECLINE_LABELS) >= 150
    assert counts["near_miss"] >= 200 and counts["in_scope"] >= 100


def test_folds_keep_paraphrases_together_and_use_every_fold():
    bank = load_bank()
    folds = group_folds(bank, 10)
    by_group = {}
    for e, f in zip(bank, folds):
        by_group.setdefault(e.group, set()).add(int(f))
    assert all(len(f) == 1 for f in by_group.values())
    assert set(folds.tolist()) == set(range(10))


def test_a_bad_clinic_example_names_the_file_line_and_allowed_labels(tmp_path):
    folder = write_examples(tmp_path / "ex", [{"text": "fine", "label": "in_scope"}, {"text": "x", "label": "scary"}])
    with pytest.raises(SafetyBankError, match=r"clinic.jsonl:2: label 'scary' is not one of: breathing"):
        load_bank(folder)
    (folder / "clinic.jsonl").write_text('{"text": "no label"\n', encoding="utf-8")
    with pytest.raises(SafetyBankError, match="clinic.jsonl:1: not valid JSON"):
        load_bank(folder)
    with pytest.raises(SafetyBankError, match="safety examples folder not found"):
        load_bank(tmp_path / "missing")


def test_the_bank_embeddings_are_cached_by_content(embedder, tmp_path):
    bank = load_bank()[:40]
    first = embed_bank(bank, embedder, tmp_path)
    assert len(list(tmp_path.glob("safety-bank-*.npz"))) == 1
    again = embed_bank(bank, embedder, tmp_path)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    embed_bank(bank[:39], embedder, tmp_path)  # other content, another cache file
    assert len(list(tmp_path.glob("safety-bank-*.npz"))) == 2


def test_a_clinic_teaches_the_classifier_its_own_patients_words(engine, tmp_path):
    """The shipped bank is English and Spanish; a clinic whose patients write in French adds a few examples, no
    code, and a French fever after chemotherapy becomes urgent (before, it got the recognised-language reply)."""
    message = "mon père a de la fièvre après sa chimiothérapie"
    before = engine.ask(message)
    assert before.status != "urgent" and before.reason == "other_language"
    folder = write_examples(tmp_path / "clinic", [
        {"text": "j'ai 38,5 de fièvre et j'ai eu ma chimio il y a une semaine", "label": "neutropenic_fever"},
        {"text": "mon fils a de la fièvre et des frissons après la chimiothérapie", "label": "neutropenic_fever"},
        {"text": "ma femme a beaucoup de fièvre, elle est sous chimio", "label": "neutropenic_fever"},
        {"text": "fièvre après la chimio, que faire", "label": "neutropenic_fever"},
        {"text": "j'ai de la température et je reçois une immunothérapie", "label": "neutropenic_fever"},
        {"text": "qu'est-ce que la neutropénie fébrile", "label": "near_miss"},
        {"text": "quels sont les effets secondaires de la chimiothérapie", "label": "in_scope"},
    ])
    config = engine.config.replace(safety_examples_dir=folder)
    clf = load_classifier(engine.embedder, folder, config.cache_dir, config.safety_c)
    assert sum(e.group.startswith("clinic:") for e in clf.bank) == 7
    clinic_engine = Engine(config, engine.index, engine.embedder, clf)
    after = clinic_engine.ask(message)
    assert after.status == "urgent" and after.reason == "chemo_fever", after.safety
    assert clinic_engine.ask("what is daratumumab?").status == "answered"


def test_the_clinic_phone_number_reaches_the_patient(engine):
    clinic = Engine(engine.config.replace(care_team_phone="0800 123 4567"), engine.index, engine.embedder,
                    engine.classifier)
    ans = clinic.ask("my port site is swelling and burning while the chemo runs")
    assert ans.status == "urgent" and "0800 123 4567" in ans.answer


def test_scores_are_probabilities(engine):
    s, f = engine.embedder.encode_with_frame(["my dad collapsed", "what is melanoma"])
    urgent, decline, p = engine.classifier.scores(["my dad collapsed", "what is melanoma"], s, f)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert ((0 <= urgent) & (urgent <= 1)).all() and ((0 <= decline) & (decline <= 1)).all()
    assert urgent[0] > 0.5 > urgent[1]


def test_a_bank_without_near_misses_cannot_train_the_situation_model(embedder):
    bank = load_bank()
    bank = [e for e in bank if e.label == "crisis"][:30] + [e for e in bank if e.label == "in_scope"][:30]
    s, f = embedder.encode_with_frame([e.text for e in bank])
    with pytest.raises(SafetyBankError, match="near_miss"):
        SafetyClassifier.fit(bank, s, f)


def test_the_fit_is_cached_and_a_cached_classifier_scores_exactly_like_a_fresh_fit(engine, tmp_path):
    texts = ["my dad can't breathe and his lips are blue", "what is melanoma?", "how much morphine should I take"]
    s, f = engine.embedder.encode_with_frame(texts)
    fresh = load_classifier(engine.embedder, None, tmp_path)
    assert len(list(tmp_path.glob("safety-classifier-*.npz"))) == 1
    cached = load_classifier(engine.embedder, None, tmp_path)
    assert not isinstance(cached.topic, type(fresh.topic))  # read back, not fitted again
    for a, b in zip(fresh.scores(texts, s, f), cached.scores(texts, s, f)):
        assert np.array_equal(a, b)
    assert cached.triage(texts[0], s[0], f[0]) == fresh.triage(texts[0], s[0], f[0])


def test_a_changed_bank_or_a_damaged_cache_file_is_fitted_again(engine, tmp_path):
    load_classifier(engine.embedder, None, tmp_path)
    folder = write_examples(tmp_path / "clinic", [{"text": "my nephew on chemo is burning up", "label": "neutropenic_fever"}])
    with_clinic = load_classifier(engine.embedder, folder, tmp_path)
    assert len(list(tmp_path.glob("safety-classifier-*.npz"))) == 2 and with_clinic.bank[-1].group.startswith("clinic:")
    for path in tmp_path.glob("safety-classifier-*.npz"):
        path.write_bytes(b"garbage")
    assert isinstance(load_classifier(engine.embedder, None, tmp_path), SafetyClassifier)


def test_the_one_message_tfidf_gives_scikit_learns_numbers(engine):
    from rag.safety.triage import OneMessageTfidf

    clf = engine.classifier
    for vectorizer in (clf.topic_vectorizer, clf.situation_vectorizer, clf.chars):
        fast = OneMessageTfidf(vectorizer)
        for text in ("my dad cant breathe right now!!", "¿qué es el mieloma?", "asdfghjkl", "", "what is AML? AML?"):
            a, b = fast.transform([text]), vectorizer.transform([text])
            assert a.shape == b.shape and np.allclose(a.toarray(), b.toarray(), atol=1e-12)
