"""Make a motion-clip set (``sensorimotor clips make``): simulate rodent tracking clips in parallel
worker processes, then fit the intention VAE on them and write ``/latent_mean`` into each clip."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sensorimotor.core.errors import DataError
from sensorimotor.data.clips.format import clip_paths, read_clip, update_clip, write_clip
from sensorimotor.sequence.intention import (
    IntentionConfig,
    encode_clip,
    save_intention,
    train_intention,
)
from sensorimotor.sim.rodent import (
    REGIMES,
    RodentSimConfig,
    make_clip_arrays,
    worker_tracker,
)

FORMAT_VERSION = 1
INTENTION_FILE = "intention_vae.h5"


def clip_seed(seed: int, index: int) -> int:
    """Seed of clip ``index`` in a dataset made with ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _make_one(args: tuple[int, int, int, str, dict[str, Any]]) -> dict[str, Any]:
    index, seed, steps, out_dir, cfg_dict = args
    cfg = RodentSimConfig(**cfg_dict)
    tracker = worker_tracker(cfg)
    arrays, stats = make_clip_arrays(tracker, seed, steps)
    attrs = {
        "format_version": FORMAT_VERSION,
        "robot": "dm_control_rodent_fixed_root",
        "xml": tracker.xml_path.name,
        "seed": seed,
        "index": index,
        "control_dt": cfg.control_dt,
        "n_ref_frames": cfg.n_ref_frames,
        "obs_layout": {k: list(v) for k, v in tracker.layout.items()},
        "ctrl_convention": "ctrl[t] was applied between obs[t-1] and obs[t]; expert(obs[t]) = ctrl[t+1]",
        "joint_names": tracker.joint_names,
        "actuator_names": tracker.actuator_names,
        "regimes": [r[0] for r in REGIMES],
        "sim_config": cfg_dict,
        "expert_tracking_error": stats["tracking_error"],
    }
    path = write_clip(Path(out_dir) / f"clip_{index}.h5", arrays, attrs)
    return {"path": str(path), **stats}


def make_clips(
    out_dir: str | Path,
    *,
    n_clips: int,
    steps: int,
    seed: int = 0,
    workers: int = 2,
    sim: RodentSimConfig | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Write ``n_clips`` clips of ``steps`` steps into ``out_dir``; returns per-clip stats."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if n_clips < 1 or steps < 2:
        raise DataError(f"clips make: need n_clips >= 1 and steps >= 2, got {n_clips}, {steps}")
    existing = sorted(out.glob("clip_*.h5"))
    if existing:
        raise DataError(
            f"{out} already holds {len(existing)} clips; choose an empty folder "
            "(existing clips are never overwritten)"
        )
    cfg = dataclasses.asdict(sim or RodentSimConfig())
    jobs = [(i, clip_seed(seed, i), steps, str(out), cfg) for i in range(n_clips)]
    bar = tqdm(total=n_clips, desc="clips", disable=not progress)
    results: list[dict[str, Any]] = []
    if workers <= 1:
        for job in jobs:
            results.append(_make_one(job))
            bar.update()
    else:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            for res in pool.map(_make_one, jobs, chunksize=max(1, n_clips // (8 * workers))):
                results.append(res)
                bar.update()
    bar.close()
    return results


def generate_clips(
    out_dir: str | Path,
    *,
    n_clips: int,
    steps: int,
    seed: int = 0,
    workers: int = 2,
    sim: RodentSimConfig | None = None,
    intention: IntentionConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate clips, train the intention VAE on them and write ``/latent_mean`` into each."""
    stats = make_clips(
        out_dir,
        n_clips=n_clips,
        steps=steps,
        seed=seed,
        workers=workers,
        sim=sim,
        progress=progress,
    )
    icfg = intention or IntentionConfig(seed=seed)
    paths = clip_paths(out_dir)
    clips = [read_clip(p) for p in paths]
    model, norm, losses = train_intention(clips, icfg, progress=progress)
    for clip in clips:
        update_clip(clip.path, "latent_mean", encode_clip(model, norm, clip, icfg))
    save_intention(Path(out_dir) / INTENTION_FILE, model, norm, icfg)
    errors = np.array([s["tracking_error"] for s in stats])
    return {
        "n_clips": len(paths),
        "steps": steps,
        "expert_tracking_error_mean": float(errors.mean()),
        "intention_rec_loss_first": losses[0],
        "intention_rec_loss_last": float(np.mean(losses[-50:])),
    }
