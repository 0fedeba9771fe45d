"""Evaluate: base and fine-tuned answer the same questions on the same server → the before/after table and the
three question sets (``tunepilot eval``). Start at :func:`tools.evaluate.before_after.evaluate_model`."""
