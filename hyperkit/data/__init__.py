"""Data: the synthetic task's generator, seeded splits, and the patch streams every
task trains and predicts from."""
