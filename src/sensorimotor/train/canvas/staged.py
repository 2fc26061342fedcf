"""``sensorimotor canvas staged``: staged training of the canvas world model with LR sweeps.

A chain trains stage after stage (growing slices of one session), carrying the best weights (by the
hybrid loss over the original session) and the learning rate forward; each stage is a
:class:`~.staged_stage.StageRun`. ``runs_per_stage`` chains run with different seeds (serially, or
as processes with ``parallel``); ``baseline`` adds a fresh-weights run per stage for comparison.
Each stage's result goes to ``run<chain>/progress.json`` as it finishes; Ctrl-C or a crash leaves
the interrupted stage's auto-save and a partial report, and ``--resume RUN_DIR`` continues.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sensorimotor.core.errors import UserError
from sensorimotor.core.jaxcache import enable_compilation_cache
from sensorimotor.core.rundir import RunDir
from sensorimotor.robots.session import SessionReader, find_session
from sensorimotor.train.canvas.staged_config import StagedConfig
from sensorimotor.train.canvas.staged_splits import find_splits, make_splits
from sensorimotor.train.canvas.staged_stage import StageInterrupted, StagePlan, StageRun
from sensorimotor.train.canvas.staged_train import load_stage_data, load_weights
from sensorimotor.train.loop import RunResult, StopFlag


def plan_stages(config: StagedConfig) -> list[StagePlan]:
    """The stages to train: the root session's splits (made when missing) or the one given pair."""
    root = config.sessions_root
    if config.root_session:
        session = find_session(config.root_session, root)
        splits = find_splits(session) or make_splits(
            session, config.initial_size, config.train_ratio
        )
        plans = [
            StagePlan(s.stage, s.size, str(s.train), str(s.validate), [str(session)])
            for s in splits
        ]
    else:
        train = find_session(config.train_session, root)
        val = find_session(config.val_session, root)
        original = (
            [str(find_session(config.original_session, root))]
            if config.original_session
            else [str(train), str(val)]
        )
        size = len(SessionReader(train)) + len(SessionReader(val))
        plans = [StagePlan(1, size, str(train), str(val), original)]
    if config.max_stages:
        plans = plans[: config.max_stages]
    if config.stage is not None:
        if config.stage > len(plans):
            raise UserError(f"stage {config.stage} does not exist; there are {len(plans)} stages")
        plans = [p for p in plans if p.stage == config.stage]
    return plans


def train(
    config: StagedConfig,
    *,
    resume: str | Path | None = None,
    callback: Callable[..., None] | None = None,
) -> RunResult:
    """Run (or with ``resume``, continue) staged training; ``callback(chain, stage, check)`` is
    called after every validation check. ``stopped_by``: ``completed`` or ``interrupt``."""
    import jax  # noqa: F401 - loaded before the run dir records the devices

    from sensorimotor.train.canvas.staged_report import write_reports

    enable_compilation_cache()
    plans = plan_stages(config)
    run = (
        RunDir.open(resume)
        if resume is not None
        else RunDir.create(config.runs_root, config.name, "staged", config, config.seed)
    )
    t0 = time.perf_counter()
    stopped_by = "completed"
    try:
        if config.parallel and config.only_run is None and config.runs_per_stage > 1:
            _run_parallel(run, config)
        else:
            chains = (
                [config.only_run]
                if config.only_run is not None
                else list(range(config.runs_per_stage))
            )
            with StopFlag() as stop:
                for chain in chains:
                    _run_chain(config, plans, run, chain, stop, callback)
    except StageInterrupted:
        stopped_by = "interrupt"
    except BaseException:
        with contextlib.suppress(Exception):  # the original error matters more than the report
            write_reports(run, config, plans, partial=True)
        raise
    if config.only_run is not None:
        return RunResult(run.path, 0, time.perf_counter() - t0, stopped_by)
    summary = write_reports(run, config, plans, partial=stopped_by != "completed")
    return RunResult(
        run.path,
        summary["train_steps"],
        time.perf_counter() - t0,
        stopped_by,
        metrics=summary,
        counters={"train_steps": summary["train_steps"], "sweep_steps": summary["sweep_steps"]},
    )


#: ``sensorimotor canvas staged`` in Python.
train_staged = train


def read_progress(run_path: Path, chain: int) -> dict[str, Any]:
    """The finished stages (and baselines) of one chain: ``{"stages": {N: result}, "baseline": ...}``."""
    path = run_path / f"run{chain}" / "progress.json"
    if not path.is_file():
        return {"stages": {}, "baseline": {}}
    return json.loads(path.read_text())


def _write_progress(run_path: Path, chain: int, progress: dict[str, Any]) -> None:
    path = run_path / f"run{chain}" / "progress.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(progress, indent=1, default=float))
    tmp.replace(path)


def _run_chain(
    config: StagedConfig,
    plans: list[StagePlan],
    run: RunDir,
    chain: int,
    stop: StopFlag,
    callback: Callable[..., None] | None,
) -> None:
    """Train every planned stage of one chain that has not finished yet."""
    from sensorimotor.train.canvas.staged_report import write_stage_report

    progress = read_progress(run.path, chain)
    weights, lr = _initial_weights(config), config.trainer.lr
    for plan in plans:
        key = str(plan.stage)
        data = None
        if key not in progress["stages"]:
            data = load_stage_data(config, plan.train, plan.val, plan.original)
            stage = StageRun(config, plan, run.path, chain, data, stop=stop, callback=callback)
            result, _ = stage.run(weights, lr)
            progress["stages"][key] = result
            _write_progress(run.path, chain, progress)
        result = progress["stages"][key]
        weights, lr = load_weights(result["checkpoint"])[0], result["lr_final"]
        if config.baseline and key not in progress["baseline"]:
            data = data or load_stage_data(config, plan.train, plan.val, plan.original)
            base = StageRun(config, plan, run.path, chain, data, baseline=True, stop=stop)
            progress["baseline"][key], _ = base.run(None, config.trainer.lr)
            _write_progress(run.path, chain, progress)
        write_stage_report(run, config, plan, chain, progress)


def _initial_weights(config: StagedConfig) -> Any:
    """The weights of ``config.checkpoint`` (a run directory or a checkpoint folder), or ``None``."""
    if not config.checkpoint:
        return None
    path = Path(config.checkpoint)
    if (path / "checkpoints").is_dir():
        path = path / "checkpoints"
    tree, _ = load_weights(path)
    if "params" in tree:  # a canvas run's (or a stage's best) weights
        return tree
    if "best" in tree:  # a stage's auto-save
        return tree["best"]
    raise UserError(f"{config.checkpoint}: not a canvas world-model checkpoint")


def _run_parallel(run: RunDir, config: StagedConfig) -> None:
    """Each chain in its own process (``--resume RUN_DIR only_run=N``); waits for all of them."""
    from sensorimotor.train.sweep.storage import default_storage_url, open_storage

    logs = run.path / "logs"
    logs.mkdir(exist_ok=True)
    # Create the sweeps' storage schema here, once: chains creating a fresh SQLite file at the
    # same moment race on it (one fails with "UNIQUE constraint failed: alembic_version").
    (run.path / "sweeps").mkdir(exist_ok=True)
    open_storage(config.sweep.storage or default_storage_url(run.path / "sweeps"))
    procs = []
    try:
        for chain in range(config.runs_per_stage):
            command = [sys.executable, "-m", "sensorimotor", "canvas", "staged"]
            command += ["--resume", str(run.path), f"only_run={chain}", "progress=false"]
            log = (logs / f"chain{chain}.log").open("a")
            procs.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
        codes = [proc.wait() for proc, _ in procs]
    except KeyboardInterrupt:
        for proc, _ in procs:
            proc.wait()  # each chain saves its stage on the same Ctrl-C
        raise StageInterrupted("parallel chains") from None
    finally:
        for _, log in procs:
            log.close()
    failed = [i for i, code in enumerate(codes) if code != 0]
    if any(code == 130 for code in codes):
        raise StageInterrupted("parallel chains")
    if failed:
        raise UserError(f"chains {failed} failed; see {logs}/chain<N>.log")
