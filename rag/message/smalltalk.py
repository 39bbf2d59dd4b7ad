"""Small talk is its own class of message, answered with a fixed reply in the patient's language: a greeting, thanks,
goodbye, "who are you?", "are you a doctor?", and noise. The safety classifier learns these labels from the bank
(`rag/safety/bank/smalltalk*.jsonl`), beside the boundary cases ("hi, what is AML?" is a question); the threshold is
chosen out of fold (benchmarks/bench_safety.py)."""
from __future__ import annotations

SMALL_TALK_LABELS = ("greeting", "thanks", "goodbye", "who_are_you", "are_you_doctor", "junk")


def small_talk(top_label: str, top_score: float, threshold: float) -> str | None:
    """The small-talk kind when the classifier's likeliest label is one, with at least `threshold` probability."""
    return top_label if top_label in SMALL_TALK_LABELS and top_score >= threshold else None
