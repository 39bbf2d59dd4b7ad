"""What the patient wrote, before any answer: the message cleaned of markup and noise, its language, small talk,
and the fixed replies in that language (data files, one per language)."""
