"""Retrieval-augmented generation: chunking, embeddings, a hybrid index with access control, the rag strategy."""
