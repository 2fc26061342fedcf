"""The MAE reference train step under each speed lever, one lever at a time, against the default.

Run from the repository root: ``python benchmarks/mae_levers.py [--quick] [--torch PYTHON]``.

Each variant runs in its own child process (XLA flags must be set before JAX starts), interleaved
with the baseline, which is measured first, in the middle and last to show the drift of a shared
machine. The matmul peak is measured once in the parent with default flags; MFU = achieved FLOP/s
over that peak. With ``--torch`` (a Python that can import torch; default: the LeRobot venv when it
exists) the same architecture in PyTorch (``benchmarks/mae_torch.py``) runs in the same run.

Levers (names accepted by ``--only``):
- attention: ``heads-first, deferred normalisation`` (the default), ``heads-first, softmax
  weights (before)``, ``einsum (B,T,H,D)``,
  ``jax.nn.dot_product_attention (xla)``, ``deferred softmax normalisation`` (normalise the (T, D)
  output instead of the (T, T) weights);
- remat: ``remat blocks``, ``remat blocks (save dots)``;
- XLA flags: ``thunk runtime off``, ``fast math``, ``single-threaded Eigen``, ``XNNPACK``,
  ``concurrency-optimised scheduler``;
- batch size: ``batch 8``, ``batch 32``, ``batch 64``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from canvas_train import matmul_peak_cpu
from common import machine_info, print_rows

HERE = Path(__file__).resolve().parent
TORCH_VENV = Path.home() / ".cache/sensorimotor/lerobot-venv/bin/python"

#: variant -> (XLA_FLAGS, in-process patch name, batch)
VARIANTS: dict[str, tuple[str, str, int]] = {
    "heads-first, deferred normalisation (default)": ("", "", 16),
    "heads-first, softmax weights (before)": ("", "softmax_weights", 16),
    "einsum (B,T,H,D)": ("", "einsum", 16),
    "jax.nn.dot_product_attention (xla)": ("", "dpa", 16),
    "deferred softmax normalisation": ("", "deferred", 16),
    "remat blocks": ("", "remat", 16),
    "remat blocks (save dots)": ("", "remat_dots", 16),
    "thunk runtime off": ("--xla_cpu_use_thunk_runtime=false", "", 16),
    "fast math": ("--xla_cpu_enable_fast_math=true", "", 16),
    "single-threaded Eigen": ("--xla_cpu_multi_thread_eigen=false", "", 16),
    "XNNPACK": ("--xla_cpu_use_xnnpack=true", "", 16),
    "concurrency-optimised scheduler": (
        "--xla_cpu_enable_concurrency_optimized_scheduler=true",
        "",
        16,
    ),
    "batch 8": ("", "", 8),
    "batch 32": ("", "", 32),
    "batch 64": ("", "", 64),
}


def _patch(name: str) -> None:
    """Swap the attention / block implementation for one variant (child process only)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from sensorimotor.nn import transformer as tr

    if name in ("einsum", "dpa", "deferred", "softmax_weights"):

        def call(self, x, key_mask=None, return_attention=False):
            b, t, d = x.shape
            if name == "softmax_weights":  # the attention before deferred normalisation
                qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim)
                qkv = qkv.transpose(2, 0, 3, 1, 4)
                q, k, v = qkv[0] * (1.0 / math.sqrt(self.head_dim)), qkv[1], qkv[2]
                weights = jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2), axis=-1)
                y = (weights @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
                return self.out(y), None
            if name == "deferred":
                qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.head_dim)
                qkv = qkv.transpose(2, 0, 3, 1, 4)
                q, k, v = qkv[0] * (1.0 / math.sqrt(self.head_dim)), qkv[1], qkv[2]
                logits = q @ jnp.swapaxes(k, -1, -2)
                e = jnp.exp(logits - jax.lax.stop_gradient(logits.max(-1, keepdims=True)))
                y = (e @ v) / e.sum(-1, keepdims=True)
                y = y.transpose(0, 2, 1, 3).reshape(b, t, d)
                return self.out(y), None
            q, k, v = jnp.split(self.qkv(x).reshape(b, t, 3 * self.heads, self.head_dim), 3, 2)
            if name == "dpa":
                y = jax.nn.dot_product_attention(q, k, v, implementation="xla")
            else:
                logits = jnp.einsum("bqhd,bkhd->bhqk", q / math.sqrt(self.head_dim), k)
                y = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v)
            return self.out(y.reshape(b, t, d)), None

        tr.MultiHeadAttention.__call__ = call
    elif name in ("remat", "remat_dots"):
        original = tr.TransformerBlock.__call__
        policy = jax.checkpoint_policies.dots_saveable if name == "remat_dots" else None

        def block(self, x, key_mask=None, return_attention=False):
            inner = nnx.remat(lambda blk, x: original(blk, x, key_mask, False)[0], policy=policy)
            return inner(self, x), None

        tr.TransformerBlock.__call__ = block


def child(patch: str, batch: int, repeat: int) -> None:
    """Time the reference step with one lever applied; prints one JSON line."""
    from canvas_train import train_step_row

    from sensorimotor.core.jaxcache import enable_compilation_cache
    from sensorimotor.nn.vit import MAEConfig

    enable_compilation_cache()  # the baseline's repeats compile once
    _patch(patch)
    reference = MAEConfig(patch_size=16, width=256, depth=6, heads=8, mlp_ratio=4.0)
    row = train_step_row("MAE reference", reference, (224, 224), batch, 0.75, repeat)
    print("RESULT " + json.dumps(row))


def run_variant(name: str, repeat: int, python: str = sys.executable) -> dict[str, Any]:
    flags, patch, batch = VARIANTS[name]
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
    out = subprocess.run(
        [python, str(HERE / "mae_levers.py"), "--child", patch, str(batch), str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"variant {name!r} failed:\n{out.stderr[-2000:]}")


def run_torch(python: str, batch: int, repeat: int) -> dict[str, Any]:
    out = subprocess.run(
        [python, str(HERE / "mae_torch.py"), "--batch", str(batch), "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"PyTorch MAE failed:\n{out.stderr[-2000:]}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", nargs="*", help="variant names (default: all)")
    parser.add_argument(
        "--torch",
        default=str(TORCH_VENV) if TORCH_VENV.exists() else "",
        help="a Python with torch for the PyTorch rows ('' to skip)",
    )
    args = parser.parse_args()
    repeat = 3 if args.quick else 8
    baseline = "heads-first, deferred normalisation (default)"
    names = [n for n in VARIANTS if n != baseline and (not args.only or n in args.only)]
    peak, peak_cpu = matmul_peak_cpu()
    print(f"machine: {machine_info()}")
    print(
        f"matmul peak (float32, 2048^3, default flags): {peak / 1e9:.1f} GFLOP/s wall, "
        f"{peak_cpu / 1e9:.1f} GFLOP per CPU-second",
        flush=True,
    )
    half = len(names) // 2
    middle = [] if args.quick else [baseline]
    order = [baseline, *names[:half], *middle, *names[half:], baseline]
    rows, base_times = [], []
    for name in order:
        row = run_variant(name, repeat)
        row = {
            "variant": name,
            **row,
            "MFU": row["GFLOP/s"] * 1e9 / peak,
            "MFU (CPU time)": row["GFLOP per CPU-s"] * 1e9 / peak_cpu,
        }
        if name == baseline:
            base_times.append(row["ms/step"] / row["batch"])
        rows.append(row)
        print(
            f"  {name}: {row['ms/step']:.0f} ms/step, MFU {row['MFU']:.3f}, "
            f"MFU (CPU time) {row['MFU (CPU time)']:.3f}",
            flush=True,
        )
    base = statistics.median(base_times)
    base_cpu = statistics.median(r["GFLOP per CPU-s"] for r in rows if r["variant"] == baseline)
    for row in rows:
        row["vs default (per sample)"] = base / (row["ms/step"] / row["batch"])
        row["vs default (CPU time)"] = row["GFLOP per CPU-s"] / base_cpu
    if args.torch:
        for batch in (16,) if args.quick else (16, 1):
            t = run_torch(args.torch, batch, repeat)
            jax_row = run_variant(baseline, repeat) if batch != 16 else None
            jax_ms = jax_row["ms/step"] if jax_row else base * 16
            jax_cpu = jax_row["GFLOP per CPU-s"] if jax_row else base_cpu
            rows.append(
                {
                    "variant": f"PyTorch {t['torch']} ({t['threads']} threads), batch {batch}",
                    "batch": batch,
                    "ms/step": t["ms/step"],
                    "GFLOP/s": t["GFLOP/s"],
                    "MFU": t["GFLOP/s"] * 1e9 / peak,
                    "MFU (CPU time)": t["GFLOP per CPU-s"] * 1e9 / peak_cpu,
                    "vs default (per sample)": (jax_ms / batch) / (t["ms/step"] / batch),
                    "vs default (CPU time)": t["GFLOP per CPU-s"] / jax_cpu,
                }
            )
            print(
                f"  torch batch {batch}: {t['ms/step']:.0f} ms vs JAX {jax_ms:.0f} ms", flush=True
            )
    print()
    print_rows(
        rows,
        [
            "variant",
            "batch",
            "ms/step",
            "MFU",
            "vs default (per sample)",
            "MFU (CPU time)",
            "vs default (CPU time)",
        ],
    )
    print(f"\nload (1 min) after: {machine_info()['load_1min']}")


if __name__ == "__main__":
    main()
