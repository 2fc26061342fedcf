"""The sweep objective of staged training: train the canvas world model from the stage's current
weights at the trial's learning rate for the trial's budget; return the best validation loss and the
checkpoint of the weights that reached it. Built by sweep workers from its spec (JSON)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from typing import Any

from sensorimotor.core.config import config_from_dict
from sensorimotor.core.numerics import NonFiniteError
from sensorimotor.train.canvas.staged_config import StagedConfig
from sensorimotor.train.canvas.staged_train import (
    Check,
    Segment,
    StageData,
    build_model,
    host_state,
    load_stage_data,
    load_weights,
    save_weights,
)
from sensorimotor.train.sweep.objective import Objective, TrialOutcome, TrialSpec

#: The import reference sweep workers build this objective from.
REFERENCE = "sensorimotor.train.canvas.staged_objective:canvas_objective"


#: In-process trials ask this whether Ctrl-C was pressed (staged training sets it around a sweep),
#: so a sweep stops within one check instead of running every remaining trial first.
stop_requested: Callable[[], bool] = lambda: False  # noqa: E731


def objective_spec(
    config: StagedConfig, train: str, val: str, original: list[str], start: str | None
) -> dict[str, Any]:
    """The JSON spec of :func:`canvas_objective`."""
    from sensorimotor.core.config import config_to_dict

    return {
        "config": config_to_dict(config),
        "train": str(train),
        "val": str(val),
        "original": [str(p) for p in original],
        "start": start,
    }


def canvas_objective(spec: dict[str, Any], data: StageData | None = None) -> Objective:
    """The objective of one stage's sweep. Worker processes read the data once each; an in-process
    sweep passes the stage's ``data`` (already in memory) instead of reading it again."""
    from sensorimotor.core.jaxcache import enable_compilation_cache

    enable_compilation_cache()
    config = config_from_dict(StagedConfig, spec["config"])
    if data is None:
        data = load_stage_data(config, spec["train"], spec["val"], spec["original"])
    start = load_weights(spec["start"])[0] if spec.get("start") else None
    first: dict[str, Any] = {}  # the start weights' training-canvas losses, scored once

    def objective(trial: TrialSpec) -> TrialOutcome:
        model = build_model(config, data, trial.lr, trial.seed, start)
        segment = Segment(
            model,
            data,
            trial.seed,
            config.eval_every,
            config.sampling_temperature,
            config.max_check_canvases,
        )
        # Every trial starts from the same weights, so the first sampling weights are the same
        # for all of them: score the training canvases for the first trial only.
        if config.sampling_temperature and first:
            segment.losses, segment.probs = first["losses"].copy(), first["probs"]
        elif config.sampling_temperature:
            segment.check()
            segment.checks.clear()
            first.update(losses=segment.losses.copy(), probs=segment.probs)
        best = {"loss": math.inf, "state": None}
        deadline = time.monotonic() + trial.seconds if trial.seconds else None

        def on_check(check: Check) -> str | None:
            if stop_requested():
                raise KeyboardInterrupt  # the trial is failed and enqueued again for --resume
            if not math.isfinite(check.val_loss):
                return "diverged"
            if check.val_loss < best["loss"]:
                best["loss"], best["state"] = check.val_loss, host_state(model)
            return None

        with contextlib.suppress(NonFiniteError):  # this learning rate diverged
            segment.run(trial.steps, on_check, deadline)
        checkpoint = None
        if best["state"] is not None:
            meta = {"lr": trial.lr, "seed": trial.seed, "val_loss": best["loss"]}
            checkpoint = save_weights(trial.workdir / "best", best["state"], meta)
        curve = [c.val_loss for c in segment.checks]
        return TrialOutcome(best["loss"], checkpoint, segment.step, curve)

    return objective
