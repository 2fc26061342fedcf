"""Canvas world model and MAE train-step throughput, FLOPs and MFU; online-loop latency.

Run from the repository root: ``python benchmarks/canvas_train.py [--quick] [--dtype bfloat16]``;
``--canvas-sweep 16 64 256`` times only the default canvas model at those batch sizes
(MFU by process CPU time, which a shared machine distorts least); ``--gpu-only`` runs only the GPU column (both rows in bfloat16 at batch 64 on the first GPU, MFU
against the GPU's bfloat16 8192^3 matmul peak), which prints "no GPU" on a machine without one.

Rows:
- ``canvas (default)``: the train step of ``sensorimotor run``'s model (configs/robots/model/canvas.yaml)
  at its trainer batch size, masking the canvas's target slot;
- ``MAE reference``: 224x224 images, patch 16, width 256, 6 encoder + 6 decoder blocks, 8 heads,
  MLP ratio 4, random mask 0.75, batch 16.

FLOPs per sample are counted analytically (matmuls; forward x 3 for forward + backward) and checked
against XLA's own cost analysis of the compiled step. MFU divides the achieved FLOP/s by the matmul
peak measured in the same run (``common.matmul_peak_flops``). The online rows time whole iterations
of ``sensorimotor run``'s loop (observe, train, select, predict, execute) on the toroidal dot, with a
train step every iteration and with every train step skipped.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from common import machine_info, matmul_peak_flops, print_rows


def train_step_row(
    name: str,
    mae_config: Any,
    shape: tuple[int, int],
    batch: int,
    mask: Any,
    repeat: int,
) -> dict[str, Any]:
    """Time one jitted MAE train step (forward, backward, AdamW). ``mask``: a concrete ``(N,)`` mask,
    or a float ratio for fresh random masks every step."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx

    from sensorimotor.nn.vit import (
        MaskedAutoencoderViT,
        grid_shape,
        mae_flops_per_sample,
        random_mask,
    )

    h, w = shape
    gh, gw = grid_shape(h, w, mae_config.patch_size)
    n = gh * gw
    ratio = mask if isinstance(mask, float) else None
    keep = n - int(round(ratio * n)) if ratio is not None else int((~mask).sum())
    graphdef, params = nnx.split(MaskedAutoencoderViT(mae_config, rngs=nnx.Rngs(0)))
    tx = optax.adamw(1e-4, b1=0.9, b2=0.95, weight_decay=0.05)

    def step(params, opt_state, images, key):
        m = random_mask(key, batch, n, ratio)[0] if ratio is not None else mask

        def loss_fn(p):
            net = nnx.merge(graphdef, p)
            out = net(images, m, keep=keep)
            return net.loss(images, out.pred, out.mask)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    images = jnp.asarray(np.random.default_rng(0).random((batch, h, w, 3), np.float32))
    state = {"params": params, "opt": tx.init(params), "step": 0}
    cost = jax.jit(step).lower(state["params"], state["opt"], images, jax.random.key(0)).compile()
    analysis = cost.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    xla_flops = float(analysis.get("flops", float("nan"))) if analysis else float("nan")
    jitted = jax.jit(step, donate_argnums=(0, 1))

    def run() -> Any:
        state["step"] += 1
        key = jax.random.key(state["step"])
        state["params"], state["opt"], loss = jitted(state["params"], state["opt"], images, key)
        return loss

    seconds, cpu_seconds = wall_and_cpu(run, repeat)
    flops = 3 * mae_flops_per_sample(mae_config, h, w, keep)
    return {
        "config": name,
        "dtype": mae_config.dtype,
        "image": f"{h}x{w}",
        "tokens enc/dec": f"{keep}/{n}",
        "batch": batch,
        "ms/step": 1e3 * seconds,
        "samples/s": batch / seconds,
        "GFLOP/sample": flops / 1e9,
        "XLA GFLOP/sample": xla_flops / batch / 1e9,
        "GFLOP/s": flops * batch / seconds / 1e9,
        "GFLOP per CPU-s": flops * batch / cpu_seconds / 1e9,
    }


def wall_and_cpu(fn: Any, repeat: int, warmup: int = 2) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds (all threads) per call of ``fn``.

    CPU time is what a loaded, shared machine distorts least: other jobs stretch the wall time but
    not the CPU seconds the step itself consumes.
    """
    import jax

    for _ in range(warmup):
        jax.block_until_ready(fn())
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def matmul_peak_cpu(n: int = 2048, repeat: int = 10) -> tuple[float, float]:
    """The float32 matmul peak as (FLOP/s of wall time, FLOP per CPU-second)."""
    import jax

    a = jax.random.normal(jax.random.key(0), (n, n))
    b = jax.random.normal(jax.random.key(1), (n, n))
    matmul = jax.jit(lambda x, y: x @ y)
    walls, cpus = [], []
    for _ in range(3):
        jax.block_until_ready(matmul(a, b))
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(matmul(a, b))
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return 2 * n**3 / min(walls), 2 * n**3 / min(cpus)


def online_rows(iterations: int) -> list[dict[str, Any]]:
    """Milliseconds per online iteration of the default run (toroidal dot, default model)."""
    from sensorimotor.robots.selectors import RandomDurationSelector
    from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot
    from sensorimotor.train.canvas import load_run_config
    from sensorimotor.worldmodels.model import CanvasWorldModel

    rows = []
    for label, threshold in (("every iteration trains", 0.0), ("every train step skipped", 1e9)):
        config = load_run_config([f"trainer.skip_threshold={threshold}"])
        robot = ToroidalDotRobot(ToroidalDotConfig(seed=0))
        selector = RandomDurationSelector(robot.action_space, 1, 10, seed=0)
        model = CanvasWorldModel(
            config.model, config.trainer, robot.action_space, (224, 224), seed=0, total_steps=1000
        )
        for _ in range(40):  # fill the history, fit the normaliser, compile
            model.step(robot, selector)
        times = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            model.step(robot, selector)
            times.append(time.perf_counter() - t0)
        times.sort()
        rows.append(
            {
                "online loop": label,
                "ms/iteration (median)": 1e3 * statistics.median(times),
                "ms p90": 1e3 * times[int(0.9 * len(times))],
                "iterations/s": 1 / statistics.median(times),
            }
        )
    return rows


def model_configs(dtype: str) -> tuple[Any, Any, Any, Any]:
    """The default canvas model's config, its canvas layout, the trainer batch and the MAE reference."""
    from sensorimotor.nn.vit import MAEConfig
    from sensorimotor.train.canvas import load_run_config
    from sensorimotor.worldmodels.canvas import CanvasLayout

    run = load_run_config([])
    m = run.model
    layout = CanvasLayout(
        m.frame_size[0], m.frame_size[1], m.slots, m.separator_width, m.patch_size
    )
    canvas = MAEConfig(
        patch_size=m.patch_size,
        width=m.width,
        depth=m.depth,
        heads=m.heads,
        mlp_ratio=m.mlp_ratio,
        dtype=dtype,
    )
    reference = MAEConfig(patch_size=16, width=256, depth=6, heads=8, mlp_ratio=4.0, dtype=dtype)
    return canvas, layout, run.trainer.batch_size, reference


def step_rows(dtype: str, batch: int | None, repeat: int, peak: float) -> list[dict[str, Any]]:
    """The canvas (default) and MAE reference train-step rows on JAX's default device."""
    canvas, layout, trainer_batch, reference = model_configs(dtype)
    rows = [
        train_step_row(
            "canvas (default)",
            canvas,
            layout.shape[:2],
            batch or trainer_batch,
            layout.target_mask,
            repeat,
        ),
        train_step_row("MAE reference", reference, (224, 224), batch or 16, 0.75, repeat),
    ]
    for row in rows:
        row["MFU"] = row["GFLOP/s"] * 1e9 / peak
    return rows


def canvas_sweep(batches: list[int], repeat: int) -> None:
    """The default canvas model's step at several batch sizes, MFU by CPU time: how much of its
    distance from the peak is its size (small matrices) rather than the code."""
    _, peak_cpu = matmul_peak_cpu()
    canvas, layout, _, _ = model_configs("float32")
    rows = []
    for batch in batches:
        row = train_step_row(
            "canvas (default)", canvas, layout.shape[:2], batch, layout.target_mask, repeat
        )
        row["MFU (CPU time)"] = row["GFLOP per CPU-s"] * 1e9 / peak_cpu
        rows.append(row)
    print(f"CPU matmul peak: {peak_cpu / 1e9:.1f} GFLOP per CPU-second")
    columns = ["config", "batch", "tokens enc/dec", "ms/step", "GFLOP per CPU-s", "MFU (CPU time)"]
    print_rows(rows, columns)


def gpu_rows(repeat: int) -> None:
    """The GPU column: both rows in bfloat16 at batch 64 on the first GPU, or "no GPU"."""
    import jax

    try:
        gpu = jax.devices("gpu")[0]
    except RuntimeError:
        print("GPU (bfloat16, batch 64): no GPU")
        return
    with jax.default_device(gpu):
        peak = matmul_peak_flops("bfloat16", n=8192, repeat=repeat)
        print(f"GPU {gpu.device_kind}: bfloat16 matmul peak (8192^3) {peak / 1e12:.1f} TFLOP/s")
        print_rows(step_rows("bfloat16", 64, repeat, peak))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=None, help="batch size of both rows")
    parser.add_argument("--gpu-only", action="store_true", help="only the GPU column")
    parser.add_argument(
        "--canvas-sweep", type=int, nargs="*", help="only the canvas model at these batch sizes"
    )
    args = parser.parse_args()

    import jax

    from sensorimotor.core.jaxcache import enable_compilation_cache

    enable_compilation_cache()
    repeat = 5 if args.quick else 15
    print(f"machine: {machine_info()}")
    if args.canvas_sweep:
        canvas_sweep(args.canvas_sweep, repeat)
        return
    if not args.gpu_only:
        with jax.default_device(jax.devices("cpu")[0]):
            peak = matmul_peak_flops(args.dtype, n=2048, repeat=5 if args.quick else 10)
            print(f"CPU matmul peak ({args.dtype}, 2048^3, same run): {peak / 1e9:.1f} GFLOP/s\n")
            print_rows(step_rows(args.dtype, args.batch, repeat, peak))
            print()
            print_rows(online_rows(30 if args.quick else 100))
        print()
    gpu_rows(repeat)
    print(f"\nload (1 min) after: {machine_info()['load_1min']}")


if __name__ == "__main__":
    main()
