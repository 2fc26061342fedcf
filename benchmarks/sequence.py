"""Sequence-model benchmarks: training throughput (parallel vs sequential scan), rollout latency
(recurrent step vs re-running a context window), clip loading (preloaded vs streamed).

python benchmarks/sequence.py [--lengths 256 1024 4096] [--tokens 4096] [--clips saved/clips_rodent]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine_info, print_rows, summary, timeit


def train_throughput(kind: str, scan: str, length: int, batch: int, d_in: int = 64) -> float:
    """Sequences/s of one jitted train step (forward, backward, AdamW) of a 4-layer width-128 model."""
    import jax
    import optax
    from flax import nnx

    from sensorimotor.sequence.models import ModelConfig, SequenceModel
    from sensorimotor.sequence.training import loss_fn

    cfg = ModelConfig(
        type=kind, d_model=128, n_layers=4, d_state=64 if kind == "s5" else 16, scan=scan
    )
    model = SequenceModel(cfg, d_in, {"action": 38}, {}, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
    key = jax.random.key(0)
    batch_ = {
        "x": jax.random.normal(key, (batch, length, d_in)),
        "action": jax.random.normal(key, (batch, length, 38)),
    }

    @nnx.jit
    def step(model, opt, batch):
        (loss, _), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch, {})
        opt.update(model, grads)
        return loss

    times = timeit(lambda: step(model, opt, batch_), warmup=1, repeat=3)
    return batch / summary(times)["median"]


def rollout_latency(window: int = 64, steps: int = 300) -> list[dict]:
    """Per-control-step latency of a 4-layer width-128 S5 predictor (373-dim obs, 38 actions)."""
    import numpy as np
    from flax import nnx

    from sensorimotor.core.normalize import Normalizer
    from sensorimotor.sequence.models import ModelConfig, SequenceModel
    from sensorimotor.sequence.predictor import Predictor

    rows = []
    for kind in ("s5", "mamba"):
        cfg = ModelConfig(type=kind, d_model=128, n_layers=4, d_state=64 if kind == "s5" else 16)
        model = SequenceModel(cfg, 373, {"action": 38}, {}, rngs=nnx.Rngs(0))
        norms = {
            "x": Normalizer(np.zeros(373, np.float32), np.ones(373, np.float32)),
            "action": Normalizer(np.zeros(38, np.float32), np.ones(38, np.float32)),
        }
        pred = Predictor(model, norms, window=window)
        obs = np.random.default_rng(0).normal(size=(steps, 373)).astype(np.float32)
        res = {}
        for name, fn in (
            ("recurrent step", pred.predict),
            (f"window {window}", pred.predict_window),
        ):
            pred.reset()
            for o in obs[:5]:
                fn(o)  # compile
            t0 = time.perf_counter()
            for o in obs:
                fn(o)
            res[name] = (time.perf_counter() - t0) / steps * 1e3
        rec, win = res["recurrent step"], res[f"window {window}"]
        rows.append(
            {
                "model": kind,
                "recurrent ms/step": rec,
                f"window-{window} ms/step": win,
                "window / recurrent": win / rec,
            }
        )
    return rows


def loading(clips: Path | None, batches: int = 200) -> list[dict]:
    """Batches/s (32 x 64 steps, state_action) from preloaded arrays vs streamed from HDF5."""
    from sensorimotor.data.clips.datasets import ClipDataConfig, ClipDataset

    tmp = None
    if clips is None or not clips.is_dir():
        from sensorimotor.sequence.clipgen import make_clips

        tmp = tempfile.TemporaryDirectory()
        clips = Path(tmp.name)
        make_clips(clips, n_clips=40, steps=250, workers=2, progress=False)
    rows = []
    for preload in (True, False):
        cfg = ClipDataConfig(
            path=str(clips),
            mode="state_action",
            segment_length=64,
            stride=32,
            preload=preload,
            workers=2,
        )
        t0 = time.perf_counter()
        ds = ClipDataset(cfg)
        setup = time.perf_counter() - t0
        it = ds.batches("train", 32, seed=0)
        next(it)
        t0 = time.perf_counter()
        for _ in range(batches):
            next(it)
        rate = batches / (time.perf_counter() - t0)
        rows.append(
            {"loader": "preloaded" if preload else "streamed", "setup s": setup, "batches/s": rate}
        )
    for row in rows:
        row["vs preloaded"] = row["batches/s"] / rows[0]["batches/s"]
    if tmp is not None:
        tmp.cleanup()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--tokens", type=int, default=4096, help="batch = tokens // T")
    parser.add_argument("--clips", type=Path, default=Path("saved/clips_rodent"))
    parser.add_argument("--skip", nargs="*", default=[], choices=["train", "rollout", "loading"])
    args = parser.parse_args()
    import jax  # noqa: F401  (so machine_info reports the devices)

    print(machine_info())
    if "train" not in args.skip:
        rows = []
        for kind in ("s5", "mamba"):
            for length in args.lengths:
                batch = max(1, args.tokens // length)
                par = train_throughput(kind, "parallel", length, batch)
                seq = train_throughput(kind, "sequential", length, batch)
                rows.append(
                    {
                        "model": kind,
                        "T": length,
                        "batch": batch,
                        "parallel seq/s": par,
                        "sequential seq/s": seq,
                        "parallel / sequential": par / seq,
                    }
                )
                print(rows[-1], flush=True)
        print("\n## training throughput (4 layers, width 128, one train step)")
        print_rows(rows)
    if "rollout" not in args.skip:
        print("\n## rollout latency per control step (CPU, Python predictor included)")
        print_rows(rollout_latency())
    if "loading" not in args.skip:
        print("\n## clip loading")
        print_rows(loading(args.clips))


if __name__ == "__main__":
    main()
