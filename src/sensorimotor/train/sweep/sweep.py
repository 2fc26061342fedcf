"""The two-phase learning-rate sweep on Optuna: phase A (many log-uniform learning rates, short
budget) → phase B (the best of them × several seeds, longer budget) → a ranked winner.

Each phase is one Optuna study ``<name>-A`` / ``<name>-B`` in the storage. Every trial is
enqueued up front with its learning rate, seed and budget (a ``candidate`` key), then run by
workers (:mod:`.worker`), so calling :func:`run_sweep` again after an interruption enqueues only
what is missing and runs only what did not finish.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sensorimotor.core.rng import derive_seed
from sensorimotor.train.sweep.config import SweepConfig
from sensorimotor.train.sweep.objective import Objective, load_objective
from sensorimotor.train.sweep.storage import default_storage_url, open_storage
from sensorimotor.train.sweep.worker import WorkerSettings, reap_stale, work, worker_command

RANKINGS = {"median": statistics.median, "mean": statistics.fmean, "min": min}


@dataclass
class SweepResult:
    """The winner of a sweep and everything the report shows about it."""

    lr: float
    seed: int
    best_val_loss: float
    checkpoint: str | None
    source: str  # phase_b, phase_a (phase B failed) or configured (every trial failed)
    phase_a: list[dict[str, Any]] = field(default_factory=list)
    phase_b: list[dict[str, Any]] = field(default_factory=list)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0  # train steps of every trial together
    seconds: float = 0.0  # wall time of the sweep
    storage: str = ""
    study: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def log_uniform_candidates(lo: float, hi: float, n: int, seed: int) -> list[float]:
    """``n`` learning rates, one drawn log-uniformly in each of ``n`` equal log-width bins."""
    rng = np.random.default_rng(derive_seed(seed, "sweep", "candidates"))
    edges = np.linspace(math.log(lo), math.log(hi), n + 1)
    return [float(math.exp(rng.uniform(a, b))) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def run_sweep(
    objective: str,
    spec: Mapping[str, Any],
    config: SweepConfig,
    workdir: str | Path,
    *,
    name: str,
    fallback_lr: float,
    build: Any = load_objective,
) -> SweepResult:
    """Run (or resume) the sweep ``name`` of the objective ``"module:factory"`` built from ``spec``;
    trial checkpoints and the default SQLite storage go in ``workdir``."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    url = config.storage or default_storage_url(workdir)
    spec_file = workdir / f"{name}.spec.json"
    spec_file.write_text(json.dumps(dict(spec), indent=1, default=str))
    t0 = time.perf_counter()
    runner = _PhaseRunner(objective, spec, spec_file, config, workdir, url, build)
    lrs = log_uniform_candidates(config.lr_min, config.lr_max, config.phase_a_trials, config.seed)
    a_items = [
        {"candidate": f"A{i}", "lr": lr, "seed": config.seed, "steps": config.phase_a_steps}
        | {"seconds": config.phase_a_seconds, "phase": "A"}
        for i, lr in enumerate(lrs)
    ]
    phase_a = runner.run(f"{name}-A", a_items)
    survivors = sorted((r for r in phase_a if r["state"] == "COMPLETE"), key=lambda r: r["loss"])
    b_items = [
        {"candidate": f"B{i}-{j}", "lr": r["lr"], "steps": config.phase_b_steps, "phase": "B"}
        | {"seed": derive_seed(config.seed, "phase_b", j), "seconds": config.phase_b_seconds}
        for i, r in enumerate(survivors[: config.phase_b_top])
        for j in range(config.phase_b_seeds)
    ]
    phase_b = runner.run(f"{name}-B", b_items) if b_items else []
    result = choose_winner(phase_a, phase_b, config.ranking, fallback_lr, config.seed)
    result.phase_a, result.phase_b = phase_a, phase_b
    result.steps = sum(int(r.get("steps_used") or 0) for r in phase_a + phase_b)
    result.seconds = time.perf_counter() - t0
    result.storage, result.study = url, name
    return result


def choose_winner(
    phase_a: list[dict[str, Any]],
    phase_b: list[dict[str, Any]],
    ranking: str,
    fallback_lr: float,
    seed: int,
) -> SweepResult:
    """Rank phase B's learning rates by ``ranking`` of their losses; fall back to phase A's best,
    then to ``fallback_lr``."""
    stat = RANKINGS[ranking]
    done_b = [r for r in phase_b if r["state"] == "COMPLETE"]
    groups: dict[float, list[dict[str, Any]]] = {}
    for r in done_b:
        groups.setdefault(r["lr"], []).append(r)
    table = [
        {
            "lr": lr,
            "runs": len(rows),
            "median": statistics.median(r["loss"] for r in rows),
            "mean": statistics.fmean(r["loss"] for r in rows),
            "min": min(r["loss"] for r in rows),
            "score": stat([r["loss"] for r in rows]),
        }
        for lr, rows in groups.items()
    ]
    table.sort(key=lambda row: row["score"])
    if table:
        best = min(groups[table[0]["lr"]], key=lambda r: r["loss"])
        return SweepResult(
            best["lr"], best["seed"], best["loss"], best["checkpoint"], "phase_b", ranking=table
        )
    done_a = sorted((r for r in phase_a if r["state"] == "COMPLETE"), key=lambda r: r["loss"])
    if done_a:
        best = done_a[0]
        return SweepResult(best["lr"], best["seed"], best["loss"], best["checkpoint"], "phase_a")
    return SweepResult(fallback_lr, seed, math.inf, None, "configured")


class _PhaseRunner:
    """Enqueues a phase's missing trials and runs them with ``config.workers`` workers."""

    def __init__(
        self,
        objective: str,
        spec: Mapping[str, Any],
        spec_file: Path,
        config: SweepConfig,
        workdir: Path,
        url: str,
        build: Any,
    ) -> None:
        self.objective, self.spec, self.spec_file = objective, spec, spec_file
        self.config, self.workdir, self.url, self.build = config, workdir, url, build
        self._local: Objective | None = None

    def run(self, study_name: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            study_name=study_name,
            storage=open_storage(self.url),
            direction="minimize",
            load_if_exists=True,
            sampler=optuna.samplers.RandomSampler(seed=self.config.seed),
        )
        settings = WorkerSettings(
            self.url,
            study_name,
            self.workdir,
            self.config.heartbeat_s,
            self.config.grace_s,
            self.config.max_retries,
        )
        reap_stale(study, settings)
        present = {t.user_attrs.get("candidate") for t in study.get_trials(deepcopy=False)}
        for item in items:
            if item["candidate"] not in present:
                study.enqueue_trial({}, user_attrs=item)
        self._drain(study, settings)
        return trial_rows(study)

    def _drain(self, study: Any, settings: WorkerSettings) -> None:
        """Run workers until no trial waits and none runs (trials of lost workers are retried)."""
        from optuna.trial import TrialState

        while True:
            reap_stale(study, settings)
            states = [t.state for t in study.get_trials(deepcopy=False)]
            if TrialState.WAITING in states:
                self._run_workers(settings)
            elif TrialState.RUNNING in states:
                time.sleep(min(1.0, settings.heartbeat_s))  # workers elsewhere are on it
            else:
                return

    def _run_workers(self, settings: WorkerSettings) -> None:
        if self.config.workers == 1:
            if self._local is None:
                self._local = self.build(self.objective, self.spec)
            work(settings, self._local)
            return
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        command = worker_command(settings, self.objective, self.spec_file)
        procs = []
        try:
            for i in range(self.config.workers):
                log = (logs / f"{settings.study}-worker{i}.log").open("a")
                procs.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
            for proc, _ in procs:
                proc.wait()
        finally:
            for proc, log in procs:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait()
                log.close()


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One row per trial of a study: candidate, lr, seed, state, loss, steps, seconds, checkpoint."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        rows.append(
            {
                "trial": t.number,
                "candidate": a.get("candidate"),
                "lr": a.get("lr"),
                "seed": a.get("seed"),
                "state": t.state.name,
                "loss": t.value if t.value is not None else math.inf,
                "steps_used": a.get("steps_used", 0),
                "seconds_used": a.get("seconds_used", 0.0),
                "checkpoint": a.get("checkpoint"),
                "curve": a.get("curve", []),
                "error": a.get("error", ""),
                "retry": a.get("retry", 0),
            }
        )
    return rows
