"""One run's life: train (the shared trainer), keep checkpoints and budgets, score, write its records."""
