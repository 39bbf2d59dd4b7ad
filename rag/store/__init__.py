"""What is kept on disk: the passage index (FAISS + BM25), the audit log, atomic file writes."""
