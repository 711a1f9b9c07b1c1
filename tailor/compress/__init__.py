"""Compressed variants of a strategy's model (bf16, int8) and their speed; see variants.py."""
