"""VLA train-step throughput: samples/s, tokens/s and MFU against the matmul peak measured in the
same run (the baseline: a jitted square matmul of the same dtype on the same device).

python benchmarks/vla.py --before --batch 32               # before/debug/small/base, float32, here
python benchmarks/vla.py --variants base large --dtype bfloat16 --batch 64   # on a GPU
"""

from __future__ import annotations

import argparse

import numpy as np
from common import machine_info, matmul_peak_flops, print_rows, summary, timeit

#: The setting of the first quality runs (byte-level instruction tokens, 8-px patches: 129
#: tokens), kept as the "before" row for the token-count cut (word tokens, 12-px patches).
BEFORE = {"variant": "debug", "label": "debug, 48 text tokens (before)", "max_text_tokens": 48}


def step_rate(
    variant: str, dtype: str, batch: int, image_size: int, repeat: int, **overrides: object
) -> dict:
    """Median samples/s of one jitted train step (forward, backward, AdamW) on synthetic data."""
    import jax

    from sensorimotor.core.config import config_from_dict
    from sensorimotor.train.vla import build_state, flops_per_sample, make_train_step
    from sensorimotor.train.vla_config import VLATrainConfig
    from sensorimotor.vla.configuration import VLAConfig
    from sensorimotor.vla.tokenizer import encode_batch

    model = VLAConfig.from_variant(variant, dtype=dtype, image_size=image_size, **overrides)
    cfg = config_from_dict(VLATrainConfig, {"trainer": {"batch_size": batch}})
    cfg.model = model
    state = build_state(cfg)
    rng = np.random.default_rng(0)
    data = {
        "images": rng.uniform(-1, 1, (batch, len(model.cameras), image_size, image_size, 3)).astype(
            np.float32
        ),
        "tokens": encode_batch(
            ["pick up the red brick with the left arm"] * batch, model.max_text_tokens
        ),
        "state": rng.normal(size=(batch, model.state_dim)).astype(np.float32),
        "actions": rng.normal(size=(batch, model.horizon, model.action_dim)).astype(np.float32),
    }
    data = jax.device_put(data)
    step = jax.jit(make_train_step(1), donate_argnums=0)
    holder = {"state": state}

    def run() -> object:
        holder["state"], metrics = step(holder["state"], data, jax.random.key(0))
        return metrics["loss"]

    seconds = summary(timeit(run, warmup=2, repeat=repeat))["median"]
    samples = batch / seconds
    return {
        "variant": variant,
        "dtype": dtype,
        "batch": batch,
        "tokens": model.num_tokens,
        "samples_per_s": samples,
        "tokens_per_s": samples * model.num_tokens,
        "flops": flops_per_sample(model) * samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", nargs="+", default=["debug", "small", "base"])
    parser.add_argument(
        "--before", action="store_true", help="add the first quality runs' setting as a row"
    )
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import jax

    peak = matmul_peak_flops(args.dtype)
    rows = [{"variant": "matmul peak (baseline)", "dtype": args.dtype, "flops": peak, "mfu": 1.0}]
    runs = [(v, v, {}) for v in args.variants]
    if args.before:
        extra = {k: v for k, v in BEFORE.items() if k not in ("variant", "label")}
        runs.insert(0, (BEFORE["variant"], BEFORE["label"], extra))
    for variant, label, extra in runs:
        row = step_rate(variant, args.dtype, args.batch, args.image_size, args.repeat, **extra)
        row["variant"] = label
        row["mfu"] = row["flops"] / peak
        rows.append(row)
    print(machine_info())
    print(f"devices: {jax.devices()}")
    cols = ["variant", "dtype", "batch", "tokens", "samples_per_s", "tokens_per_s", "flops", "mfu"]
    print_rows(rows, cols)


if __name__ == "__main__":
    main()
