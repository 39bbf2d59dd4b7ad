"""Decisions made before retrieval: emergencies, declines (rules and the learned classifier on its bank)."""
