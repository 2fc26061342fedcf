"""The RL training driver: online, offline and offline-to-online training of any agent.

``train(config, *, resume=None) -> RunResult`` builds the task environment and the agent, fills a
replay buffer from the environment (online) and/or a dataset (offline: an NPZ/HDF5 file, recorded
sessions, or demonstrations generated on the fly), runs jitted updates, evaluates periodically,
logs ``training/*`` and ``evaluation/*`` metrics to the run directory, checkpoints at an interval
(agent + replay buffer), and writes ``report.html`` with learning curves. It is generic: what an
agent learns from (transitions, chunks, sequences) and how it acts (sampling, planning) are the
agent's own methods (``sample_batch``, ``act``).

With more than one JAX device, batches are sharded over a 1-D ``data`` mesh and the agent is
replicated (data-parallel updates through ``jax.sharding``).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from sensorimotor.agents.base import Agent
from sensorimotor.agents.buffer import ReplayBuffer
from sensorimotor.agents.device_loop import DeviceTransitions, fused_updates
from sensorimotor.agents.factory import AGENT_CONFIGS, create_agent
from sensorimotor.agents.rollout import ObsWindow, evaluate_agent
from sensorimotor.agents.tasks import episode_length, make_env, make_expert, task_info
from sensorimotor.core.config import load_saved_config
from sensorimotor.core.errors import ConfigError, DataError
from sensorimotor.core.rng import derive_seed
from sensorimotor.core.rundir import RunDir
from sensorimotor.core.tracking import Tracker
from sensorimotor.learners.spec import Spec
from sensorimotor.train.loop import (
    Interval,
    MetricsWindow,
    NonFinitePolicy,
    RunCheckpoints,
    RunResult,
    StopFlag,
    progress,
    steps_to_boundary,
)
from sensorimotor.train.rl_config import (
    MODES,
    AlgoConfig,
    DataConfig,
    RLTrainConfig,
    TaskConfig,
    load_rl_config,
)
from sensorimotor.train.rl_report import write_rl_report
from sensorimotor.train.sharding import data_mesh, replicate, shard_batch

__all__ = [
    "MODES",
    "AlgoConfig",
    "DataConfig",
    "RLTrainConfig",
    "RunState",
    "TaskConfig",
    "data_mesh",
    "evaluate_agent",
    "load_dataset",
    "load_rl_config",
    "replicate",
    "shard_batch",
    "train",
]


# --------------------------------------------------------------------------------------------
# Building the run: spec, offline data, agent
# --------------------------------------------------------------------------------------------


def load_dataset(cfg: RLTrainConfig, capacity: int | None = None) -> ReplayBuffer:
    """The offline dataset of ``cfg.data`` (file, sessions, or generated demonstrations)."""
    d = cfg.data
    if d.path:
        return ReplayBuffer.load(d.path, capacity=capacity, group=d.group)
    if d.sessions:
        return ReplayBuffer.from_sessions(
            d.sessions, obs_keys=d.obs_keys, reward_key=d.reward_key, capacity=capacity
        )
    if d.demos_episodes > 0:
        from sensorimotor.agents.tasks.demos import collect_demos

        expert = make_expert(cfg.task.name, d.expert)
        buf = collect_demos(
            cfg.task.name, expert, episodes=d.demos_episodes, seed=derive_seed(cfg.seed, "demos"),
            noise=d.demos_noise, env_kwargs=cfg.task.kwargs, progress=cfg.progress,
        )  # fmt: skip
        if capacity and capacity > len(buf):
            big = ReplayBuffer(capacity, buf.obs_dim, buf.action_dim)
            big.add_batch(buf.arrays())
            big.metadata = buf.metadata
            return big
        return buf
    raise ConfigError(
        f"mode={cfg.mode} needs data: set data.path=<file.npz|h5>, data.sessions=[...] or "
        "data.demos_episodes=N"
    )


def _offline_data(cfg: RLTrainConfig, spec: Spec) -> tuple[ReplayBuffer | None, Spec]:
    """The dataset (``None`` online) and the spec, with the dataset's observation stats if asked."""
    if cfg.mode == "online":
        return None, spec
    dataset = load_dataset(cfg)
    if dataset.obs_dim != spec.obs_dim or dataset.action_dim != spec.action_dim:
        raise DataError(
            f"dataset has obs_dim={dataset.obs_dim}, action_dim={dataset.action_dim}; task "
            f"{cfg.task.name} has {spec.obs_dim}, {spec.action_dim}"
        )
    if cfg.data.normalize_obs:
        st = dataset.stats()["observations"]
        spec = spec.with_obs_normalizer(st.shift, st.scale)
    return dataset, spec


def _agent_config(cfg: RLTrainConfig, env: Any) -> dict[str, Any]:
    """The agent's config keys, with the task's episode length for agents that take one."""
    agent_cfg = dict(cfg.algo.agent)
    fields = {f.name for f in dataclasses.fields(AGENT_CONFIGS.get(cfg.algo.name))}
    if "episode_length" in fields and "episode_length" not in agent_cfg:
        length = episode_length(env)
        if length:
            agent_cfg["episode_length"] = length
    return agent_cfg


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class RunState:
    """Counters that checkpoints carry besides the agent."""

    env_steps: int = 0
    updates: int = 0
    episodes: int = 0


class _Learning:
    """The agent and everything that changes it: updates, metrics, evaluation, checkpoints."""

    def __init__(self, cfg: RLTrainConfig, run: RunDir, agent: Agent, state: RunState) -> None:
        self.cfg, self.run, self.state = cfg, run, state
        self.mesh = data_mesh()
        self.agent = replicate(agent, self.mesh)
        self.rng = np.random.default_rng(derive_seed(cfg.seed, "replay", state.updates))
        self.fused_key = jax.random.PRNGKey(derive_seed(cfg.seed, "fused", state.updates))
        self.tracker = Tracker(run, wandb=cfg.wandb, project="sensorimotor-rl", config=cfg)
        self.window = MetricsWindow()
        self.window.count("env_steps", 0)
        self.window.count("updates", 0)
        self.nonfinite = NonFinitePolicy(run.path, context="update metrics")
        self.nonfinite_log = NonFinitePolicy(run.path, context="training metrics (update info)")
        self.checkpoints = RunCheckpoints(run, keep=cfg.keep_checkpoints)
        self.last_eval: dict[str, float] = {}
        self.offset = 0  # the logged step of the current phase's step 0

    def update(self, n: int, source: ReplayBuffer) -> None:
        """``n`` updates on batches the agent samples from ``source`` on the host."""
        infos, batches = [], []
        for _ in range(n):
            batch = self.agent.sample_batch(source, self.rng, self.cfg.batch_size)
            self.agent, info = self.agent.update(shard_batch(batch, self.mesh))
            infos.append(info)
            batches.append(batch)
        self._record(jax.device_get(infos), batches)

    def update_fused(self, n: int, data: DeviceTransitions) -> None:
        """``n`` updates on batches sampled on the device inside one scan."""
        self.fused_key, k = jax.random.split(self.fused_key)
        self.agent, stacked = fused_updates(
            self.agent, data, k, steps=n, batch_size=self.cfg.batch_size
        )
        stacked = jax.device_get(stacked)
        self._record([{key: v[i] for key, v in stacked.items()} for i in range(n)], None)

    def _record(self, infos: list[dict[str, Any]], batches: list | None) -> None:
        """Check each update's metrics (NaN/Inf names the update and saves its batch)."""
        for i, info in enumerate(infos):
            batch = batches[i] if batches is not None else None
            self.nonfinite.check(info, step=self.state.updates + i + 1, batch=batch)
        self.window.add_many(infos)
        self.window.count("updates", len(infos))
        self.state.updates += len(infos)

    def log(self, step: int) -> None:
        """Write the window's means and rates as ``training/*``."""
        metrics = {f"training/{k}": v for k, v in self.window.flush().items()}
        metrics["training/env_steps"] = self.state.env_steps
        metrics["training/updates"] = self.state.updates
        self.nonfinite_log.check(metrics, step=step)
        self.tracker.log(metrics, step)

    def evaluate(self, step: int) -> dict[str, float]:
        """Evaluation episodes, logged as ``evaluation/*``."""
        cfg = self.cfg
        self.last_eval = evaluate_agent(
            self.agent, cfg.task.name, episodes=cfg.eval_episodes,
            seed=derive_seed(cfg.seed, "eval", step), deterministic=cfg.eval_deterministic,
            env_kwargs=cfg.task.kwargs, obs_horizon=cfg.obs_horizon,
            action_horizon=cfg.action_horizon, mode_samples=cfg.mode_samples,
        )  # fmt: skip
        self.tracker.log({f"evaluation/{k}": v for k, v in self.last_eval.items()}, step)
        return self.last_eval

    def save(self, step: int, buffer: ReplayBuffer | None) -> None:
        """Checkpoint the agent and the run counters (and the replay buffer beside them)."""
        if buffer is not None and self.cfg.save_buffer:
            buffer.save(self.run.path / "replay.npz")
        meta = self.agent.metadata()
        meta["run_state"] = dataclasses.asdict(self.state)
        self.checkpoints.save(step, self.agent.state_dict(), meta)

    def after_step(self, step: int, total: int, buffer: ReplayBuffer | None, bar: Any) -> None:
        """Log, evaluate and checkpoint when their intervals are due after ``step`` of the
        current phase's ``total`` (logged at ``offset + step``)."""
        cfg = self.cfg
        logged = self.offset + step
        if Interval(cfg.log_every, total).due(step):
            self.log(logged)
        if Interval(cfg.eval_every, total).due(step):
            ret = self.evaluate(logged)["return_mean"]
            bar.set_postfix(ret=f"{ret:.1f}")
        if Interval(cfg.checkpoint_every, total).due(step):
            self.save(logged, buffer)


def _restore(run: RunDir, agent: Agent) -> tuple[Agent, RunState]:
    restored = RunCheckpoints(run).restore_latest()
    if restored is None:
        return agent, RunState()
    nested, meta = restored
    agent = agent.load_state_dict(nested, where=str(run.checkpoints_dir))
    return agent, RunState(**meta.get("run_state", {}))


def _offline_phase(learn: _Learning, dataset: ReplayBuffer, stop: StopFlag) -> None:
    """``steps`` (offline) or ``offline_steps`` (offline_online) updates on the dataset."""
    cfg, state = learn.cfg, learn.state
    total = cfg.steps if cfg.mode == "offline" else cfg.offline_steps
    if not total:
        return
    # A fixed dataset of transitions lives on the device; updates sample it inside one scan.
    device_data = None
    if learn.mesh is None and learn.agent.batch_kind == "transitions":
        device_data = DeviceTransitions.from_buffer(dataset)
    bar = progress(total, desc=f"{cfg.algo.name} offline", initial=state.updates,
                   enabled=cfg.progress)  # fmt: skip
    if state.updates == 0 and cfg.eval_every:
        learn.evaluate(0)
    learn.offset = 0
    intervals = [Interval(i, total) for i in (cfg.log_every, cfg.eval_every, cfg.checkpoint_every)]
    while state.updates < total and not stop.stopped:
        # Run updates up to the next log / evaluation / checkpoint boundary.
        chunk = steps_to_boundary(state.updates, intervals, total)
        if device_data is None:
            learn.update(chunk, dataset)
        else:
            learn.update_fused(chunk, device_data)
        bar.update(chunk)
        learn.after_step(state.updates, total, None, bar)
    bar.close()


class _Actor:
    """One environment episode at a time: observation window, queued action chunk, acting state."""

    def __init__(self, env: Any, agent: Agent, cfg: RLTrainConfig, episode: int) -> None:
        self.env, self.cfg = env, cfg
        self.window = ObsWindow(cfg.obs_horizon)
        self.queue: deque[np.ndarray] = deque()
        self.reset(agent, episode)

    def reset(self, agent: Agent, episode: int) -> None:
        """Start episode number ``episode`` (its seed follows from it)."""
        self.obs, _ = self.env.reset(seed=self.cfg.seed + episode)
        self.window.reset(self.obs)
        self.queue.clear()
        self.act_state = agent.init_act_state(1)
        self.first = True
        self.ret, self.length = 0.0, 0

    def action(self, agent: Agent, *, random: bool, new_key: Callable[[], jax.Array]) -> np.ndarray:
        """A random action (seed steps) or the next one of the agent's action chunk (acting
        with a ``new_key()`` when the chunk is used up)."""
        if random:
            action = self.env.action_space.sample()
        else:
            if not self.queue:
                a, self.act_state = agent.act(
                    self.window.flat()[None], new_key(), self.act_state,
                    first=np.asarray([self.first]),
                )  # fmt: skip
                self.queue.extend(np.asarray(a).reshape(self.cfg.action_horizon, -1))
            action = self.queue.popleft()
        self.first = False
        return action

    def step(self, action: np.ndarray, buffer: ReplayBuffer) -> bool:
        """Act in the environment and store the transition; whether the episode ended."""
        nxt, r, term, trunc, _ = self.env.step(action)
        buffer.add(self.obs, action, r, nxt, term, trunc)
        self.ret += float(r)
        self.length += 1
        self.obs = nxt
        self.window.push(nxt)
        return bool(term or trunc)


class _UpdateSchedule:
    """How many updates follow each environment step: none during the random seed steps,
    ``pretrain_updates`` right after them, then ``updates_per_step`` on average."""

    def __init__(self, cfg: RLTrainConfig) -> None:
        self.seed_steps = cfg.seed_steps if cfg.mode == "online" else 0
        self.pretrain = cfg.pretrain_updates
        self.per_step = cfg.updates_per_step
        self.pending = 0.0

    def after(self, steps: int) -> int:
        """Updates due after ``steps`` environment steps."""
        if steps < self.seed_steps:
            return 0
        if steps == self.seed_steps and self.seed_steps > 0:
            return self.pretrain
        self.pending += self.per_step
        n = int(self.pending)
        self.pending -= n
        return n


def _online_phase(learn: _Learning, env: Any, buffer: ReplayBuffer, stop: StopFlag) -> None:
    """``steps`` environment steps, each followed by the scheduled updates on the buffer."""
    cfg, state = learn.cfg, learn.state
    actor = _Actor(env, learn.agent, cfg, state.episodes)
    schedule = _UpdateSchedule(cfg)
    keys = [jax.random.PRNGKey(derive_seed(cfg.seed, "act", state.env_steps))]

    def new_key() -> jax.Array:
        keys[0], k = jax.random.split(keys[0])
        return k

    learn.offset = state.updates if cfg.mode == "offline_online" else 0
    if state.env_steps == 0 and cfg.eval_every:
        learn.evaluate(learn.offset)
    bar = progress(cfg.steps, desc=f"{cfg.algo.name} {cfg.task.name}", initial=state.env_steps,
                   enabled=cfg.progress)  # fmt: skip
    for step in range(state.env_steps, cfg.steps):
        random = step < schedule.seed_steps
        ended = actor.step(actor.action(learn.agent, random=random, new_key=new_key), buffer)
        state.env_steps += 1
        learn.window.count("env_steps")
        if ended:
            state.episodes += 1
            learn.window.add({"episode_return": actor.ret, "episode_length": actor.length})
            actor.reset(learn.agent, state.episodes)
        n = schedule.after(step + 1)
        if n and len(buffer) >= learn.agent.min_replay_steps:
            learn.update(n, buffer)
        bar.update(1)
        learn.after_step(step + 1, cfg.steps, buffer, bar)
        if stop.stopped:
            break
    bar.close()


def _open_run(config: RLTrainConfig | None, resume: str | Path | None) -> tuple[RunDir, Any]:
    if resume is not None:
        run = RunDir.open(resume)
        cfg = load_saved_config(run.config_path, RLTrainConfig)
        task_info(cfg.task.name)
        return run, cfg
    if config is None:
        raise ConfigError("train needs a config or a run directory to resume")
    task_info(config.task.name)  # validates the name before making a run directory
    run = RunDir.create(
        config.runs_root, config.name, prefix=f"rl-{config.algo.name}-{config.task.name}",
        config=config, seed=config.seed,
    )  # fmt: skip
    return run, config


def train(config: RLTrainConfig | None, *, resume: str | Path | None = None) -> RunResult:
    """Run ``config`` in a new run directory, or continue the run at ``resume`` from its latest
    intact checkpoint (and saved replay buffer) with its saved config.

    Ctrl-C stops after the current step and saves a checkpoint (``stopped_by="ctrl-c"``)."""
    run, cfg = _open_run(config, resume)
    t0 = time.time()
    env = make_env(cfg.task.name, seed=cfg.seed, **cfg.task.kwargs)
    try:
        spec = Spec.from_spaces(
            env.observation_space, env.action_space,
            obs_horizon=cfg.obs_horizon, action_horizon=cfg.action_horizon,
        )  # fmt: skip
        dataset, spec = _offline_data(cfg, spec)
        agent = create_agent(cfg.algo.name, spec, config=_agent_config(cfg, env), seed=cfg.seed)
        state = RunState()
        if resume is not None:
            agent, state = _restore(run, agent)
        buffer = _replay_buffer(cfg, run, spec, dataset, resuming=resume is not None)
        learn = _Learning(cfg, run, agent, state)
        stopped_by = _run_phases(learn, env, dataset, buffer)
    finally:
        env.close()
    published = type(learn.agent).published_returns.get(cfg.task.name)
    write_rl_report(run, cfg, learn.last_eval, published)
    return RunResult(
        run.path, state.env_steps if buffer is not None else state.updates, time.time() - t0,
        stopped_by, dict(learn.last_eval), dataclasses.asdict(state),
    )  # fmt: skip


def _replay_buffer(
    cfg: RLTrainConfig, run: RunDir, spec: Spec, dataset: ReplayBuffer | None, *, resuming: bool
) -> ReplayBuffer | None:
    """The online replay buffer (``None`` offline): the dataset's steps first, or the saved
    buffer of a resumed run."""
    if cfg.mode == "offline":
        return None
    cap = max(min(cfg.buffer_size, cfg.steps + (len(dataset) if dataset is not None else 0)), 1)
    replay = run.path / "replay.npz"
    if resuming and replay.is_file():
        return ReplayBuffer.load(replay, capacity=cap)
    buffer = ReplayBuffer(cap, spec.obs_dim, spec.action_dim)
    if dataset is not None:
        buffer.add_batch(dataset.arrays())
    return buffer


def _run_phases(
    learn: _Learning, env: Any, dataset: ReplayBuffer | None, buffer: ReplayBuffer | None
) -> str:
    """The offline then the online phase; returns why the run stopped."""
    state = learn.state
    try:
        with StopFlag() as stop:
            if dataset is not None:
                _offline_phase(learn, dataset, stop)
            if buffer is not None and not stop.stopped:
                _online_phase(learn, env, buffer, stop)
            if stop.stopped:
                learn.save(state.env_steps if buffer is not None else state.updates, buffer)
                return "ctrl-c"
    except KeyboardInterrupt:  # a second Ctrl-C: save what there is, then stop at once
        learn.save(state.env_steps if buffer is not None else state.updates, buffer)
        raise
    finally:
        learn.tracker.close()
    return "completed"
