"""The instruction tokenizer: a shipped word vocabulary with a byte-level fallback, + ``BOS``/``EOS``,
padded to a fixed length.

Words of the task language (``WORDS``: the verbs, colours, sides and function words of the brick
tasks) are one token each, so an instruction costs ~10 tokens instead of ~40 bytes (the backbone's
cost grows with the sequence); any other word is spelled as its UTF-8 bytes followed by a space
byte, so every instruction stays representable and nothing is out of vocabulary. The vocabulary is
part of the code (no file to ship or lose). ``PAD`` (0) positions are masked out of attention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sensorimotor.core.errors import UserError

PAD, BOS, EOS = 0, 1, 2
OFFSET = 3  # byte b is token b + OFFSET
#: Whole-word tokens (ids ``WORD_OFFSET + i``); append only, ids must stay stable.
WORDS = (
    "pick", "up", "the", "a", "brick", "with", "left", "right", "arm", "push", "to", "put",
    "on", "one", "of", "and", "in", "place", "move", "lift", "grab", "take", "red", "blue",
    "yellow", "green", "white", "orange", "black", "front", "back", "middle", "hand", "gripper", "go",
)  # fmt: skip
WORD_OFFSET = 256 + OFFSET
VOCAB_SIZE = WORD_OFFSET + len(WORDS)
_WORD_ID = {w: WORD_OFFSET + i for i, w in enumerate(WORDS)}
_SPACE = ord(" ") + OFFSET


class InstructionError(UserError):
    """An instruction that cannot be tokenised (empty, not text, too long)."""


def _word_ids(word: str) -> list[int]:
    if word in _WORD_ID:
        return [_WORD_ID[word]]
    return [b + OFFSET for b in word.encode("utf-8")] + [_SPACE]


def encode(instruction: str, max_tokens: int) -> np.ndarray:
    """Token ids ``int32 (max_tokens,)`` of one instruction (lower-cased, whitespace collapsed)."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise InstructionError(f"instruction must be a non-empty string, got {instruction!r}")
    ids = [BOS, *(i for word in instruction.lower().split() for i in _word_ids(word)), EOS]
    if len(ids) > max_tokens:
        raise InstructionError(
            f"instruction {instruction!r} is {len(ids)} tokens (words + bytes of unknown words + "
            f"BOS/EOS); the model takes at most {max_tokens} (model.max_text_tokens)"
        )
    out = np.full(max_tokens, PAD, np.int32)
    out[: len(ids)] = ids
    return out


def encode_batch(instructions: Sequence[str], max_tokens: int) -> np.ndarray:
    """Token ids ``int32 (B, max_tokens)``."""
    return np.stack([encode(text, max_tokens) for text in instructions])


def decode(ids: np.ndarray) -> str:
    """The text of token ids (special tokens dropped)."""
    data = b""
    for i in (int(i) for i in np.asarray(ids).ravel()):
        if i >= WORD_OFFSET:
            data += WORDS[i - WORD_OFFSET].encode() + b" "
        elif i >= OFFSET:
            data += bytes([i - OFFSET])
    return data.decode("utf-8", errors="replace").strip()


#: The public name of :func:`encode` (``sensorimotor.vla.encode_instruction``).
encode_instruction = encode
