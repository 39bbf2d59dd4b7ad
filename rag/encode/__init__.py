"""Text to vectors: the checksum-verified MiniLM, run by ONNX Runtime (exported on first use) or PyTorch."""
