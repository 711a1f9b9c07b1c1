"""Prompt engineering as a measured search: instructions, few-shot examples, a static context block."""
