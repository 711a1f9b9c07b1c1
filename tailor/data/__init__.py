"""Data for tailor: corpus loaders, task examples, splits, checks and the synthetic world."""
