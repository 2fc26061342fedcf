"""``sensorimotor clips ...`` and ``sensorimotor sequence ...``: motion clips and sequence models.

sensorimotor clips make out=saved/clips_rodent n_clips=300 steps=250
sensorimotor clips info saved/clips_rodent
sensorimotor sequence presets
sensorimotor sequence train model=s5_sa trainer.lr=5e-4
sensorimotor sequence evaluate runs/s5_sa-...
sensorimotor sequence rollout runs/s5_sa-... --clips 8
sensorimotor sequence segment path=saved/clips_rodent num_states=[4,8,12]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any

from sensorimotor.cli.common import add_overrides, print_table


@dataclass
class ClipsMakeConfig:
    """``clips make`` settings (all overridable as key=value)."""

    out: str = "saved/clips_rodent"
    n_clips: int = 300
    steps: int = 250
    seed: int = 0
    workers: int = 2
    sim: dict[str, Any] = field(default_factory=dict)
    intention: dict[str, Any] = field(default_factory=dict)


def register(subparsers: argparse._SubParsersAction) -> None:
    clips = subparsers.add_parser("clips", help="make and inspect HDF5 motion clips (rodent)")
    csub = clips.add_subparsers(dest="clips_command", metavar="ACTION", required=True)
    make = csub.add_parser(
        "make",
        help="simulate rodent tracking clips in MuJoCo and fit the intention VAE",
        description="Generate clips with real MuJoCo physics (dm_control rodent, fixed root): "
        "smooth reference motions tracked by an expert controller, then train the intention VAE "
        "and write /latent_mean. Keys: out, n_clips, steps, seed, workers, sim.<field>, "
        "intention.<field>, e.g. `clips make out=saved/clips n_clips=50 intention.steps=500`.",
    )
    add_overrides(make, "out=saved/clips n_clips=50 intention.steps=500")
    make.set_defaults(func=_clips_make)
    info = csub.add_parser("info", help="summarise a clip folder (count, shapes, layout)")
    info.add_argument("path", help="clip folder (made by clips make)")
    info.set_defaults(func=_clips_info)

    seq = subparsers.add_parser("sequence", help="train/evaluate/roll out S5, Mamba, GRU, AR-HMM")
    ssub = seq.add_subparsers(dest="sequence_command", metavar="ACTION", required=True)
    p = ssub.add_parser("presets", help="list the model presets")
    p.set_defaults(func=_presets)
    t = ssub.add_parser(
        "train",
        help="train a sequence model (model=<preset> + overrides)",
        description="Train a preset (model=s5_sa, s5_si, s5_sic, s5_ssi, mamba_sa, gru_sa, "
        "mlp_sa) with overrides, e.g. `sequence train model=s5_sa trainer.lr=5e-4 "
        "data.path=saved/clips_rodent trainer=debug`.",
    )
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    add_overrides(t, "model=s5_sa trainer.lr=5e-4 data.path=saved/clips_rodent")
    t.set_defaults(func=_train)
    sw = ssub.add_parser(
        "sweep",
        help="learning-rate sweep on Optuna (phase A: many LRs, phase B: the best x seeds)",
        description="Sweep the learning rate of a preset: phase A trains sweep.phase_a_trials "
        "log-uniform LRs in [sweep.lr_min, sweep.lr_max] for sweep.phase_a_steps steps, phase B the "
        "sweep.phase_b_top best with sweep.phase_b_seeds seeds for sweep.phase_b_steps, ranked by "
        "sweep.ranking (median/mean/min) of validation 1 - R². Trials run in sweep.workers processes; "
        "sweep.storage=URL shares the Optuna study (default: SQLite in the sweep folder); run_name=X "
        "of an existing sweep resumes it. E.g. `sequence sweep model=s5_sa data.path=saved/clips "
        "sweep.workers=2`.",
    )
    add_overrides(sw, "model=s5_sa data.path=saved/clips_rodent sweep.phase_a_trials=6")
    sw.set_defaults(func=_sweep)
    e = ssub.add_parser("evaluate", help="teacher-forced R² of a run on held-out clips")
    e.add_argument("run_dir", help="a sequence train run folder")
    e.add_argument(
        "--split",
        default="val",
        choices=["train", "val"],
        help="which clips to score (default: %(default)s)",
    )
    e.set_defaults(func=_evaluate)
    r = ssub.add_parser(
        "rollout", help="closed-loop rollouts of a run's model in MuJoCo vs the expert"
    )
    r.add_argument("run_dir", help="a sequence train run folder")
    r.add_argument("--clips", type=int, default=8, help="number of validation clips")
    r.add_argument(
        "--fail-threshold", type=float, default=0.2, help="failure: mean joint error (rad)"
    )
    r.add_argument("--no-video", action="store_true", help="skip writing the MP4 videos")
    r.add_argument(
        "--window", action="store_true", help="also roll out with a sliding context window"
    )
    r.set_defaults(func=_rollout)
    s = ssub.add_parser(
        "segment",
        help="fit AR-HMM syllables (dynamax) and write /syllables into the clips",
        description="Keys: path, keys, pca_dims, num_states (list), stickiness (list), num_lags, "
        "num_iters, val_fraction, split_seed, seed, max_clips, write, runs_root, run_name.",
    )
    add_overrides(s, "path=saved/clips_rodent num_states=[4,8] num_iters=50")
    s.set_defaults(func=_segment)


def _clips_make(args: argparse.Namespace) -> int:
    from sensorimotor.core.config import apply_overrides, config_from_dict
    from sensorimotor.sequence.clipgen import generate_clips
    from sensorimotor.sequence.intention import IntentionConfig
    from sensorimotor.sim.rodent import RodentSimConfig

    cfg = apply_overrides(ClipsMakeConfig(), args.overrides)
    sim = config_from_dict(RodentSimConfig, cfg.sim)
    intention = config_from_dict(IntentionConfig, {"seed": cfg.seed, **cfg.intention})
    summary = generate_clips(
        cfg.out,
        n_clips=cfg.n_clips,
        steps=cfg.steps,
        seed=cfg.seed,
        workers=cfg.workers,
        sim=sim,
        intention=intention,
    )
    print(json.dumps({"out": cfg.out, **summary}, indent=2))
    return 0


def _clips_info(args: argparse.Namespace) -> int:
    from sensorimotor.data.clips.format import clip_paths, read_clip

    paths = clip_paths(args.path)
    first = read_clip(paths[0])
    rows = [
        {"key": k, "shape": str(getattr(first, k).shape)}
        for k in ("obs", "ctrl", "latent_mean", "syllables")
        if getattr(first, k) is not None
    ]
    print(f"{len(paths)} clips in {args.path}; first: {paths[0].name}")
    print_table(rows, ["key", "shape"])
    print("obs layout:", json.dumps(first.attrs.get("obs_layout")))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from sensorimotor.train.sweep.sequence import run_sequence_sweep

    folder, result = run_sequence_sweep(args.overrides)
    rows = [
        {"phase": r["candidate"][0], "lr": f"{r['lr']:.3g}", "seed": r["seed"], "state": r["state"]}
        | {"1-R2": f"{r['loss']:.4g}"}
        for r in result.phase_a + result.phase_b
    ]
    print_table(rows, ["phase", "lr", "seed", "state", "1-R2"])
    print(f"best lr {result.lr:.3g} ({result.source}); its run: {result.checkpoint}")
    print(f"sweep folder: {folder} (report.html, sweep.json, sweeps.db)")
    return 0


def _presets(args: argparse.Namespace) -> int:
    from sensorimotor.train.sequence import presets

    print("\n".join(presets()))
    return 0


def _train(args: argparse.Namespace) -> int:
    from sensorimotor.train.sequence import load_sequence_config, train

    if args.resume:
        result = train(None, resume=args.resume)  # type: ignore[arg-type]
    else:
        result = train(load_sequence_config(args.overrides))
    summary = {"run_dir": str(result.run_dir), "steps": result.steps, "seconds": result.seconds}
    print(json.dumps({**summary, **result.metrics}, indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from sensorimotor.train.sequence import evaluate_run

    print(json.dumps(evaluate_run(args.run_dir, split=args.split), indent=2))
    return 0


def _rollout(args: argparse.Namespace) -> int:
    from sensorimotor.train.sequence import rollout_run

    summary = rollout_run(
        args.run_dir,
        n_clips=args.clips,
        fail_threshold=args.fail_threshold,
        video=not args.no_video,
        window=args.window,
    )
    print(json.dumps(summary, indent=2))
    return 0


def _segment(args: argparse.Namespace) -> int:
    from sensorimotor.core.config import apply_overrides
    from sensorimotor.sequence.arhmm import SegmentConfig
    from sensorimotor.train.sequence import segment_job

    cfg = apply_overrides(SegmentConfig(), args.overrides)
    summary = segment_job(cfg)
    print(json.dumps(summary, indent=2))
    return 0
