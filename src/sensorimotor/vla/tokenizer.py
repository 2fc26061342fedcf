"""A byte-level instruction tokenizer: UTF-8 bytes + ``BOS``/``EOS``, padded to a fixed length.

No vocabulary file to ship or lose: any instruction is representable, and the model learns its
own byte embeddings. ``PAD`` (0) positions are masked out of attention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sensorimotor.core.errors import UserError

PAD, BOS, EOS = 0, 1, 2
OFFSET = 3  # byte b is token b + OFFSET
VOCAB_SIZE = 256 + OFFSET


class InstructionError(UserError):
    """An instruction that cannot be tokenised (empty, not text, too long)."""


def encode(instruction: str, max_tokens: int) -> np.ndarray:
    """Token ids ``int32 (max_tokens,)`` of one instruction (lower-cased, whitespace collapsed)."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise InstructionError(f"instruction must be a non-empty string, got {instruction!r}")
    text = " ".join(instruction.lower().split())
    ids = [BOS, *(b + OFFSET for b in text.encode("utf-8")), EOS]
    if len(ids) > max_tokens:
        raise InstructionError(
            f"instruction {instruction!r} is {len(ids)} tokens (bytes + BOS/EOS); the model takes "
            f"at most {max_tokens} (model.max_text_tokens)"
        )
    out = np.full(max_tokens, PAD, np.int32)
    out[: len(ids)] = ids
    return out


def encode_batch(instructions: Sequence[str], max_tokens: int) -> np.ndarray:
    """Token ids ``int32 (B, max_tokens)``."""
    return np.stack([encode(text, max_tokens) for text in instructions])


def decode(ids: np.ndarray) -> str:
    """The text of token ids (special tokens dropped)."""
    data = bytes(int(i) - OFFSET for i in np.asarray(ids).ravel() if int(i) >= OFFSET)
    return data.decode("utf-8", errors="replace")


#: The public name of :func:`encode` (``sensorimotor.vla.encode_instruction``).
encode_instruction = encode
