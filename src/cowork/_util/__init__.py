"""Small shared helpers that import nothing of cowork."""
