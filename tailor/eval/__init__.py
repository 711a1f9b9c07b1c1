"""Evaluation: answer metrics, classification scores and the statistics used to report them."""
