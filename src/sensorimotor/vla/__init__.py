"""Vision-language-action models: scripted-expert demonstrations, a ViT + instruction + proprio
transformer with a flow-matching (or MSE) action head over action chunks, and its processor.

- :class:`VLAConfig`, :data:`VARIANTS` (debug / base / large), :class:`VLA`,
  :func:`flow_matching_loss`, :func:`sample_actions`, :func:`abstract_params`, :func:`count_params`
- :class:`VLAProcessor` (input checks, normalisation), :class:`VLAInputError`,
  :func:`encode_instruction` (the byte-level tokenizer)
- :class:`DemoConfig`, :func:`make_demos` (``sensorimotor vla demos``), :func:`load_demos`

The trainer and the evaluation are ``sensorimotor.train.vla`` and ``sensorimotor.train.vla_eval``.
"""

from __future__ import annotations

from sensorimotor.core.lazy import lazy_exports

_EXPORTS = {
    "VARIANTS": "configuration",
    "VLAConfig": "configuration",
    "VLA": "modeling",
    "abstract_params": "modeling",
    "count_params": "modeling",
    "flow_matching_loss": "modeling",
    "sample_actions": "modeling",
    "VLAInputError": "processor",
    "VLAProcessor": "processor",
    "encode_instruction": "tokenizer",
    "DemoConfig": "demos",
    "make_demos": "demos",
    "load_demos": "data",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
