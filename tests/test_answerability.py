"""Answerability: a logistic model on retrieval's signals, its cut chosen out of fold, stored and read back."""
import json

import numpy as np
import pytest

from rag.answer.answerability import FEATURES, AnswerabilityModel, Signals, choose_threshold, fit
from rag.errors import RagError


def test_the_cut_answers_at_most_the_ceiling_of_out_of_scope_rows():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.65, 0.4, 0.2, 0.1, 0.05])
    y = np.array([True] * 5 + [False] * 5)
    cut = choose_threshold(p, y, 0.0)  # none of the five out-of-scope rows may be answered
    assert 0.65 < cut <= 0.7 and not (p[~y] >= cut).any()
    assert choose_threshold(p, y, 0.2) < 0.65 < cut  # one of five allowed: the 0.65 row is answered


def test_the_model_fits_on_separable_signals_and_round_trips_through_json():
    rng = np.random.default_rng(0)
    good = rng.normal(0.7, 0.05, (60, len(FEATURES)))
    bad = rng.normal(0.3, 0.05, (60, len(FEATURES)))
    x = np.vstack([good, bad])
    y = np.array([True] * 60 + [False] * 60)
    fitted = fit(x, y, [f"g{i // 2}" for i in range(120)], max_refused_oos=0.0)
    assert (fitted.out_of_fold[y] >= fitted.model.threshold).mean() > 0.95
    again = AnswerabilityModel.from_dict(json.loads(json.dumps(fitted.model.to_dict())))
    s = Signals(*good[0])
    assert again.probability(s) == pytest.approx(fitted.model.probability(s)) and again.probability(s) > 0.9


def test_a_model_fitted_on_other_features_asks_for_a_refit():
    d = AnswerabilityModel.default().to_dict()
    d["features"] = d["features"][:-1]
    with pytest.raises(RagError, match="python -m rag calibrate"):
        AnswerabilityModel.from_dict(d, "manifest.json")


def test_fitting_needs_both_sides():
    with pytest.raises(RagError, match="both answerable and out-of-scope"):
        fit(np.ones((4, len(FEATURES))), np.array([True] * 4), ["a", "b", "c", "d"])


def test_the_bundled_fit_weighs_closeness_of_meaning_and_words_found_for_answering(engine):
    """Signs a fitted model must have: closeness in meaning and words found push toward answering, words the
    library never uses push away."""
    w = dict(zip(FEATURES, AnswerabilityModel.default().weights))
    assert w["sentence_top"] > 0 and w["dense_mean"] > 0 and w["coverage"] > 0 and w["unknown_share"] < 0
    judged = engine.ask("how is colon cancer treated").answerability
    assert set(FEATURES) <= set(judged) and judged["probability"] >= judged["threshold"]
