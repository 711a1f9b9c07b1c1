"""tailor: measure prompt engineering, RAG and fine-tuning on your own data, then serve the winner."""

__version__ = "0.1.0"
