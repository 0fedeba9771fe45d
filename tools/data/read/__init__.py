"""Reading the person's documents: passages, retrieval, the reading prompt, the guard, RAFT examples, ``ask``."""
