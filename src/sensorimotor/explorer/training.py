"""The Train / evaluate tab's logic: batch training on the open session and full-session evaluation.

Batch training uses the same pieces as ``sensorimotor canvas train``: every canvas of the session
built once (:class:`~sensorimotor.worldmodels.sessions.CanvasDataset`) and the prefetching batch
sampler (:class:`~sensorimotor.worldmodels.sessions.BatchPrefetcher`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensorimotor.core.errors import UserError
from sensorimotor.explorer.canvas import CanvasExplorer


@dataclass(frozen=True)
class TrainProgress:
    """One batch train step as the page shows it."""

    done: int
    total: int
    train_steps: int
    loss: float
    lr: float
    samples_per_s: float
    finished: bool
    note: str = ""


def session_dataset(explorer: CanvasExplorer) -> Any:
    """Every canvas of the open session at the model's layout."""
    from sensorimotor.worldmodels.sessions import CanvasDataset

    model = explorer.require_model()
    return CanvasDataset([explorer.session_frames()], model.layout, model.palette)


def train_batches(
    explorer: CanvasExplorer, steps: int, diagnostics: bool = False
) -> Iterator[TrainProgress]:
    """``steps`` batch train steps on the session's canvases; yields after each step and stops
    early on :meth:`CanvasExplorer.stop`. With ``diagnostics``, every step's metrics, gradient norms
    per component and batch composition go to ``<runs>/explore-<instance>-diagnostics/`` (read by
    ``sensorimotor diagnose``)."""
    from sensorimotor.worldmodels.sessions import BatchPrefetcher

    if steps < 1:
        raise UserError(f"train steps must be at least 1, got {steps}")
    model = explorer.require_model()
    dataset = session_dataset(explorer)
    explorer.ensure_normalizer()
    explorer._stop.clear()
    with explorer.busy():
        start = model.train_steps
        batch = model.trainer.batch_size
        prefetch = BatchPrefetcher(
            dataset,
            explorer.config.seed,
            batch,
            start,
            start + steps,
            switch_fraction=model.trainer.switch_fraction,
        )
        recorder = _Recorder(explorer, dataset) if diagnostics else None
        t0, done, note = time.perf_counter(), 0, "done"
        metrics: dict[str, float] = {"loss": float("nan"), "lr": float("nan")}
        try:
            for step, canvases in prefetch:
                if explorer._stop.is_set():
                    note = "stopped"
                    break
                extra = recorder.before(step, canvases) if recorder else {}
                metrics, _ = model.train_batch(canvases, batch_info=f"explorer batch step {step}")
                if recorder:
                    recorder.write(step, metrics, extra)
                done += 1
                explorer.batch_losses.append(metrics["loss"])
                rate = done * batch / (time.perf_counter() - t0)
                yield TrainProgress(
                    done, steps, model.train_steps, metrics["loss"], metrics["lr"], rate, False
                )
        finally:
            prefetch.close()
            if recorder:
                recorder.writer.flush()
        explorer.snapshot_weights()
        rate = done * batch / max(time.perf_counter() - t0, 1e-9)
        yield TrainProgress(
            done, steps, model.train_steps, metrics["loss"], metrics["lr"], rate, True, note
        )


def evaluate_session(explorer: CanvasExplorer) -> dict[str, Any]:
    """Masked-slot loss of every canvas of the session with the current model: statistics, the
    per-canvas losses in time order, and the copy-the-last-frame baseline."""
    from sensorimotor.worldmodels.sessions import loss_statistics

    explorer.ensure_normalizer()
    model = explorer.model
    dataset = session_dataset(explorer)
    with explorer.busy():
        _, losses = model.predict_canvases(dataset.canvases)
    targets = model.layout.target(dataset.canvases).astype(np.float32) / 255.0
    last = model.layout.slot(dataset.canvases, -2).astype(np.float32) / 255.0
    baseline = ((targets - last) ** 2).mean(axis=(1, 2, 3))
    return {
        "losses": np.asarray(losses),
        "loss": loss_statistics(losses),
        "baseline": loss_statistics(baseline),
    }


class _Recorder:
    """Per-step diagnostics of the explorer's batch training (see :mod:`.diagnostics`)."""

    def __init__(self, explorer: CanvasExplorer, dataset: Any) -> None:
        from sensorimotor.core.rundir import RunDir
        from sensorimotor.explorer.diagnostics import DiagnosticsWriter

        folder = explorer.roots.runs / f"explore-{explorer.instance}-diagnostics"
        if not (folder / "config.yaml").is_file():
            explorer.roots.runs.mkdir(parents=True, exist_ok=True)
            RunDir.create(explorer.roots.runs, folder.name, "explore", explorer.config)
        self.run_dir = folder
        self.explorer, self.dataset = explorer, dataset
        self.writer = DiagnosticsWriter(folder)
        self.grads = component_gradients(explorer.model)

    def before(self, step: int, canvases: Any) -> dict[str, Any]:
        from sensorimotor.explorer.diagnostics import batch_average_loss
        from sensorimotor.explorer.weights import component_norms

        model = self.explorer.model
        trainer = model.trainer
        indices = self.dataset.batch_indices(
            self.explorer.config.seed, step, trainer.batch_size, trainer.switch_fraction
        )
        host = np.asarray(canvases)
        targets = model.layout.target(host).astype(np.float32) / 255.0
        grads = self.grads(model.params, host, model.normalizer)
        return {
            "batch": [int(i) for i in indices],
            "batch_average_loss": batch_average_loss(targets),
            "grad_norms": component_norms(grads),
        }

    def write(self, step: int, metrics: dict[str, float], extra: dict[str, Any]) -> None:
        self.writer.write({"step": step, **metrics, **extra})


def component_gradients(model: Any) -> Any:
    """A jitted ``(params, canvases, normalizer) -> gradients`` of the model's masked-slot loss
    (without augmentation), for per-component gradient norms."""
    import jax
    import jax.numpy as jnp

    layout = model.layout

    def loss(params: Any, canvases: Any, normalizer: Any) -> Any:
        pixels = canvases.astype(jnp.float32) / 255.0
        net = model.network(params)
        out = net(normalizer.normalize(pixels), layout.target_mask, keep=layout.visible_patches)
        return net.loss(pixels, out.pred, out.mask)

    return jax.jit(jax.grad(loss))
