"""tibcpt: build a clean Tibetan corpus and continue pretraining Llama-family models on it."""

__version__ = "0.1.0"
