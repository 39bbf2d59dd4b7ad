"""Passages to an answer: verbatim sentences with their citations."""
