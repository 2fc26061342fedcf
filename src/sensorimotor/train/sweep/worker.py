"""Sweep workers: claim waiting trials of a study one at a time, run the objective, report back.

Any number of workers (threads of this process, processes here, processes on other machines that
share the storage) can work on one study: a trial is claimed by switching it from WAITING to RUNNING
in the storage, which succeeds for exactly one worker. While a trial runs its worker writes a
heartbeat; a RUNNING trial whose worker died (its process is gone, or no heartbeat for
``grace_s``) is failed by whichever worker notices first and enqueued again (up to ``max_retries``),
so no trial is lost and none runs twice to completion.

``python -m sensorimotor.train.sweep.worker --storage URL --study NAME --objective REF --spec FILE
--workdir DIR`` runs one worker process (what ``--workers N`` starts N times).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorimotor.core.fs import pid_alive
from sensorimotor.train.sweep.objective import Objective, TrialSpec, load_objective

HOST = socket.gethostname()


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker finds its study and watches the others."""

    storage: str
    study: str
    workdir: Path
    heartbeat_s: float = 10.0
    grace_s: float = 60.0
    max_retries: int = 2


def load_study(settings: WorkerSettings) -> Any:
    """The Optuna study (random sampler: parameters are always enqueued, never sampled)."""
    import optuna

    from sensorimotor.train.sweep.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(
        study_name=settings.study,
        storage=open_storage(settings.storage),
        sampler=optuna.samplers.RandomSampler(),
    )


def work(settings: WorkerSettings, objective: Objective, max_trials: int | None = None) -> int:
    """Run waiting trials until none is left (or ``max_trials``); returns how many it ran."""
    study = load_study(settings)
    done = 0
    while max_trials is None or done < max_trials:
        reap_stale(study, settings)
        trial_id = claim(study)
        if trial_id is None:
            break
        run_trial(study, trial_id, objective, settings)
        done += 1
    return done


def claim(study: Any) -> int | None:
    """Switch one WAITING trial to RUNNING (atomic in the storage); its id, or ``None``."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage, study_id = study._storage, study._study_id
    for frozen in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
        try:
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                return trial_id
        except UpdateFinishedTrialError:
            continue
    return None


def run_trial(study: Any, trial_id: int, objective: Objective, settings: WorkerSettings) -> None:
    """Run one claimed trial and tell the study its outcome (FAIL with the reason otherwise)."""
    import optuna
    from optuna.trial import TrialState

    trial = optuna.trial.Trial(study, trial_id)
    attrs = study._storage.get_trial(trial_id).user_attrs
    spec = TrialSpec(
        lr=float(attrs["lr"]),
        seed=int(attrs["seed"]),
        steps=int(attrs["steps"]),
        seconds=attrs.get("seconds"),
        phase=str(attrs["phase"]),
        number=trial.number,
        workdir=settings.workdir / "trials" / f"{settings.study}-{trial.number}",
    )
    spec.workdir.mkdir(parents=True, exist_ok=True)
    trial.set_user_attr("worker", f"{HOST}:{os.getpid()}")
    trial.set_user_attr("heartbeat", time.time())
    t0 = time.perf_counter()
    try:
        with _Heartbeat(settings, trial_id):
            outcome = objective(spec)
    except KeyboardInterrupt:
        trial.set_user_attr("error", "interrupted")
        study.tell(trial, state=TrialState.FAIL)
        _retry(study, attrs, settings)
        raise
    except Exception as e:  # noqa: BLE001 - one bad trial never stops the sweep
        trial.set_user_attr("error", f"{type(e).__name__}: {e}"[:500])
        study.tell(trial, state=TrialState.FAIL)
        print(f"sweep trial {trial.number} (lr {spec.lr:.3g}) failed: {e}", file=sys.stderr)
        return
    trial.set_user_attr("seconds_used", time.perf_counter() - t0)
    trial.set_user_attr("steps_used", int(outcome.steps))
    trial.set_user_attr("checkpoint", outcome.checkpoint)
    trial.set_user_attr("curve", [float(v) if math.isfinite(v) else None for v in outcome.curve])
    if math.isfinite(outcome.best_val_loss):
        study.tell(trial, float(outcome.best_val_loss))
    else:
        trial.set_user_attr("error", "diverged (non-finite validation loss)")
        study.tell(trial, state=TrialState.FAIL)


def reap_stale(study: Any, settings: WorkerSettings) -> int:
    """Fail RUNNING trials whose worker is gone and enqueue them again; returns how many."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage, study_id = study._storage, study._study_id
    reaped = 0
    for frozen in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        if not _is_stale(frozen.user_attrs, frozen.datetime_start, settings.grace_s):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, frozen.number)
        try:
            storage.set_trial_user_attr(trial_id, "error", "worker lost (no heartbeat)")
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # another worker reaped it (or it finished) first
        _retry(study, frozen.user_attrs, settings)
        reaped += 1
    return reaped


def _is_stale(attrs: dict[str, Any], started: Any, grace_s: float) -> bool:
    worker = str(attrs.get("worker", ""))
    host, _, pid = worker.rpartition(":")
    if host == HOST and pid.isdigit() and not pid_alive(int(pid)):
        return True
    beat = attrs.get("heartbeat")
    if beat is None:
        beat = started.timestamp() if started is not None else time.time()
    return time.time() - float(beat) > grace_s


def _retry(study: Any, attrs: dict[str, Any], settings: WorkerSettings) -> None:
    retries = int(attrs.get("retry", 0))
    if retries >= settings.max_retries:
        return
    keep = {k: attrs[k] for k in ("candidate", "lr", "seed", "steps", "seconds", "phase")}
    study.enqueue_trial({}, user_attrs={**keep, "retry": retries + 1})


class _Heartbeat:
    """A thread that stamps the trial's ``heartbeat`` attribute every ``heartbeat_s``."""

    def __init__(self, settings: WorkerSettings, trial_id: int) -> None:
        self.settings, self.trial_id = settings, trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="sweep-heartbeat", daemon=True)

    def _beat(self) -> None:
        from sensorimotor.train.sweep.storage import open_storage

        storage = open_storage(self.settings.storage)
        while not self._stop.wait(self.settings.heartbeat_s):
            try:
                storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())
            except Exception:  # noqa: BLE001 - the trial finished meanwhile, or a storage hiccup
                return

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def worker_command(settings: WorkerSettings, objective: str, spec_file: Path) -> list[str]:
    """The command line of one worker process."""
    return [
        sys.executable,
        "-m",
        "sensorimotor.train.sweep.worker",
        "--storage",
        settings.storage,
        "--study",
        settings.study,
        "--objective",
        objective,
        "--spec",
        str(spec_file),
        "--workdir",
        str(settings.workdir),
        "--heartbeat",
        str(settings.heartbeat_s),
        "--grace",
        str(settings.grace_s),
        "--max-retries",
        str(settings.max_retries),
    ]


def main(argv: list[str] | None = None, build: Callable[..., Objective] = load_objective) -> int:
    """Entry point of a worker process."""
    p = argparse.ArgumentParser(description="run waiting trials of a sweep study")
    p.add_argument("--storage", required=True)
    p.add_argument("--study", required=True)
    p.add_argument("--objective", required=True, help="sensorimotor.<module>:<factory>")
    p.add_argument("--spec", required=True, help="JSON file with the objective's spec")
    p.add_argument("--workdir", required=True)
    p.add_argument("--heartbeat", type=float, default=10.0)
    p.add_argument("--grace", type=float, default=60.0)
    p.add_argument("--max-retries", type=int, default=2)
    p.add_argument("--max-trials", type=int, default=None)
    args = p.parse_args(argv)
    settings = WorkerSettings(
        args.storage, args.study, Path(args.workdir), args.heartbeat, args.grace, args.max_retries
    )
    objective = build(args.objective, json.loads(Path(args.spec).read_text()))
    try:
        work(settings, objective, args.max_trials)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
