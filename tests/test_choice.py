"""Document choice: what the question says about audience, purpose and name picks among sibling documents."""
import numpy as np

from rag.retrieval.choice import FEATURES, ChoiceModel, fit, question_audience, question_purposes


def test_a_child_is_seen_in_words_and_ages():
    assert question_audience("my 6-year-old has leukemia") == (True, False)
    assert question_audience("our daughter has a brain tumour") == (True, False)
    assert question_audience("I'm 45 with leukemia") == (False, True)
    assert question_audience("my husband has leukemia") == (False, True)
    assert question_audience("what is leukemia") == (False, False)


def test_purposes_are_seen():
    assert question_purposes("is there a screening test for liver cancer") == {"screening"}
    assert question_purposes("how can I lower my risk of skin cancer") == {"prevention"}
    assert question_purposes("does it run in families") == {"genetics"}
    assert "treatment" in question_purposes("how is it treated")


def test_the_fit_learns_to_pick_the_candidate_the_cues_point_to():
    """Rows where the gold document is second by rank but matches the child cue: the model learns the cue."""
    rows = []
    for i in range(40):
        x = np.zeros((2, len(FEATURES)))
        x[:, 0] = [1.0, 0.5]  # first_rank
        gold = i % 2
        x[gold, FEATURES.index("child_match")] = 1.0
        x[1 - gold, FEATURES.index("child_mismatch")] = 1.0
        rows.append((x, gold, f"g{i}"))
    model, figures = fit(rows)
    assert figures["out_of_fold_top_right"] == 1.0 and figures["retrieval_top_right"] == 0.5
    assert ChoiceModel.from_dict(model.to_dict()).weights == model.weights
