"""Question to passages: dense + lexical search fused, and the question's aspect (which section)."""
