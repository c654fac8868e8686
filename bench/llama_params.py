"""Parameter count of a Llama-family shape, as model.parameters() counts it (bench scripts' MFU)."""

from __future__ import annotations


def n_params(c: dict, vocab: int) -> int:
    """`c`: a LlamaConfig's keyword dict (hidden_size, head_dim, heads, kv heads, layers,
    intermediate_size, tie_word_embeddings); norms included, no biases."""
    h, d, L = c["hidden_size"], c["head_dim"], c["num_hidden_layers"]
    attn = 2 * h * c["num_attention_heads"] * d + 2 * h * c["num_key_value_heads"] * d  # q, o; k, v
    emb = vocab * h * (1 if c["tie_word_embeddings"] else 2)
    return emb + L * (attn + 3 * h * c["intermediate_size"] + 2 * h) + h
