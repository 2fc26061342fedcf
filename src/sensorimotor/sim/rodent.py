"""The dm_control rodent in MuJoCo: reference motions, observations and an expert tracker.

Simplification (documented in docs/sequence.md): the rodent's root is fixed in the air (the raw
``rodent.xml`` has no free joint), so there is no locomotion or falling; gravity, contacts between
the body's own collision geoms, joint limits, tendons and the filtered position actuators are all
simulated. A reference motion is what the body does under a smooth random command (so every
reference is physically reachable); the expert is a PD tracker on actuator lengths driven by the
future reference frames; actuator noise perturbs its commands.

Observation at step t (layout written into every clip):
``reference`` = ``ref_qpos[t+k] - qpos[t]`` for ``k = 1..K`` | ``qpos_local`` | ``qvel`` | ``act``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensorimotor.core.errors import DataError


def rodent_xml_path() -> Path:
    """Path of ``dm_control/locomotion/walkers/assets/rodent.xml``; an error if missing."""
    try:
        import dm_control
    except ImportError as exc:
        raise DataError("the rodent needs dm_control: pip install -e '.[sim]'") from exc
    path = Path(dm_control.__file__).parent / "locomotion" / "walkers" / "assets" / "rodent.xml"
    if not path.is_file():
        raise DataError(f"rodent model not found at {path}")
    return path


@dataclass(frozen=True)
class RodentSimConfig:
    """Physics, reference-motion and expert settings for rodent clips."""

    control_dt: float = 0.02
    n_ref_frames: int = 3
    # Reference motions: piecewise behaviour regimes of smooth random commands.
    regime_min_s: float = 0.6
    regime_max_s: float = 2.0
    # Expert: target = ref[t+lookahead] + kp * (ref[t+1] - q) - kd * qdot (in actuator lengths).
    lookahead: int = 2
    kp: float = 1.0
    kd: float = 0.02
    ctrl_noise: float = 0.05
    init_noise: float = 0.05


# (name, amplitude, frequency range Hz) of the reference behaviour regimes.
REGIMES: tuple[tuple[str, float, tuple[float, float]], ...] = (
    ("rest", 0.08, (0.1, 0.4)),
    ("sweep", 0.45, (0.2, 0.7)),
    ("rhythm", 0.35, (1.5, 3.0)),
)


class RodentTracker:
    """The fixed-root rodent with an observation function and an expert tracking controller."""

    def __init__(self, cfg: RodentSimConfig | None = None, xml_path: str | Path | None = None):
        import mujoco

        self.cfg = cfg or RodentSimConfig()
        self.xml_path = Path(xml_path) if xml_path else rodent_xml_path()
        self.model = mujoco.MjModel.from_xml_path(str(self.xml_path))
        self.data = mujoco.MjData(self.model)
        self._mj = mujoco
        m = self.model
        self.n_sub = max(1, round(self.cfg.control_dt / m.opt.timestep))
        self.nq, self.nv, self.nu = m.nq, m.nv, m.nu
        self.joint_names = [
            mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT, i) for i in range(m.njnt)
        ]
        self.actuator_names = [
            mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_ACTUATOR, i) for i in range(m.nu)
        ]
        self.qpos_lo, self.qpos_hi = m.jnt_range[:, 0].copy(), m.jnt_range[:, 1].copy()
        # Actuator length is affine in qpos (hinges and fixed tendons): L = J q + L0.
        self.len_jac, self.len0 = self._length_map()
        self.gain = m.actuator_gainprm[:, 0].copy()
        self.bias0 = m.actuator_biasprm[:, 0].copy()
        self.stiff = -m.actuator_biasprm[:, 1].copy()
        k = self.cfg.n_ref_frames
        self.layout: dict[str, tuple[int, int]] = {
            "reference": (0, k * self.nq),
            "qpos_local": (k * self.nq, (k + 1) * self.nq),
            "qvel": ((k + 1) * self.nq, (k + 1) * self.nq + self.nv),
            "act": ((k + 1) * self.nq + self.nv, (k + 1) * self.nq + self.nv + m.na),
        }
        self.obs_dim = self.layout["act"][1]

    def _length_map(self) -> tuple[np.ndarray, np.ndarray]:
        m, d = self.model, self._mj.MjData(self.model)
        d.qpos[:] = 0
        self._mj.mj_fwdPosition(m, d)
        l0 = d.actuator_length.copy()
        jac = np.zeros((m.nu, m.nq))
        for i in range(m.nq):
            d.qpos[:] = 0
            d.qpos[i] = 1e-3
            self._mj.mj_fwdPosition(m, d)
            jac[:, i] = (d.actuator_length - l0) / 1e-3
        return jac, l0

    # -- state -------------------------------------------------------------------------------
    def reset(
        self, qpos: np.ndarray, qvel: np.ndarray | None = None, act: np.ndarray | None = None
    ):
        """Set the physics state (joint positions, velocities, actuator activations)."""
        self._mj.mj_resetData(self.model, self.data)
        self.data.qpos[:] = qpos
        self.data.qvel[:] = 0 if qvel is None else qvel
        if act is not None:
            self.data.act[:] = act
        self._mj.mj_forward(self.model, self.data)

    def state(self) -> dict[str, np.ndarray]:
        """Copy of ``qpos (nq,)``, ``qvel (nv,)``, ``act (na,)``."""
        d = self.data
        return {"qpos": d.qpos.copy(), "qvel": d.qvel.copy(), "act": d.act.copy()}

    def step(self, ctrl: np.ndarray) -> bool:
        """Apply ``ctrl (A,)`` for one control step; False if the physics went non-finite."""
        self.data.ctrl[:] = np.clip(ctrl, -1.0, 1.0)
        for _ in range(self.n_sub):
            self._mj.mj_step(self.model, self.data)
        return bool(np.all(np.isfinite(self.data.qpos)) and np.all(np.isfinite(self.data.qvel)))

    # -- observation and expert ----------------------------------------------------------------
    def observe(self, ref_qpos: np.ndarray, t: int) -> np.ndarray:
        """Observation ``(D_obs,)`` at step ``t`` against the reference ``ref_qpos (T+K+1, nq)``."""
        d, k = self.data, self.cfg.n_ref_frames
        rel = ref_qpos[t + 1 : t + 1 + k] - d.qpos[None]
        return np.concatenate([rel.ravel(), d.qpos, d.qvel, d.act]).astype(np.float32)

    def ctrl_for_length(self, length: np.ndarray) -> np.ndarray:
        """Command that holds actuator lengths ``length (A,)`` at equilibrium (clipped)."""
        return np.clip((self.stiff * length - self.bias0) / self.gain, -1.0, 1.0)

    def expert(self, obs: np.ndarray) -> np.ndarray:
        """The expert's command ``(A,)`` as a function of the observation alone."""
        c, k, nq = self.cfg, self.cfg.n_ref_frames, self.nq
        (r0, r1), (q0, q1), (v0, v1) = (
            self.layout["reference"],
            self.layout["qpos_local"],
            self.layout["qvel"],
        )
        rel = obs[r0:r1].reshape(k, nq)
        q, qd = obs[q0:q1], obs[v0:v1]
        h = min(c.lookahead, k) - 1
        q_target = q + rel[h] + c.kp * rel[0]
        length = self.len_jac @ q_target + self.len0 - c.kd * (self.len_jac @ qd)
        return self.ctrl_for_length(length).astype(np.float32)

    # -- reference motions ---------------------------------------------------------------------
    def reference_commands(
        self, rng: np.random.Generator, steps: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Smooth random commands ``(steps, A)`` and regime labels ``(steps,)``."""
        c, dt = self.cfg, self.cfg.control_dt
        t_all = np.arange(steps) * dt
        cmds = np.zeros((steps, self.nu))
        labels = np.zeros(steps, dtype=np.int32)
        base = rng.uniform(-0.3, 0.3, self.nu)
        i = 0
        while i < steps:
            n = int(rng.uniform(c.regime_min_s, c.regime_max_s) / dt)
            r = int(rng.integers(len(REGIMES)))
            _, amp, (flo, fhi) = REGIMES[r]
            sl = slice(i, min(steps, i + n))
            tt = t_all[sl][:, None]
            sig = np.zeros((len(tt), self.nu))
            for _ in range(2):
                f = rng.uniform(flo, fhi, self.nu)
                ph = rng.uniform(0, 2 * np.pi, self.nu)
                sig += np.sin(2 * np.pi * f * tt + ph)
            cmds[sl] = base + amp * sig / 2 * rng.uniform(0.5, 1.0, self.nu)
            labels[sl] = r
            i += n
        # Low-pass across regime switches (exponential smoothing, 0.1 s).
        alpha = dt / 0.1
        for j in range(1, steps):
            cmds[j] = cmds[j - 1] + alpha * (cmds[j] - cmds[j - 1])
        return np.clip(cmds, -0.95, 0.95), labels

    def make_reference(self, rng: np.random.Generator, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """A physically reachable reference ``ref_qpos (steps, nq)`` and its regime labels."""
        settle = int(0.5 / self.cfg.control_dt)
        cmds, labels = self.reference_commands(rng, steps + settle)
        self.reset(self.model.qpos0.copy())
        qs = np.zeros((steps + settle, self.nq))
        for i in range(steps + settle):
            if not self.step(cmds[i]):
                raise RuntimeError("reference motion went non-finite")
            qs[i] = self.data.qpos
        return qs[settle:], labels[settle:]


def make_clip_arrays(
    tracker: RodentTracker, seed: int, steps: int
) -> tuple[dict[str, np.ndarray | dict[str, np.ndarray]], dict[str, float]]:
    """Simulate one expert-tracking clip of ``steps`` steps: arrays for the clip file and stats."""
    rng = np.random.default_rng(seed)
    c, k = tracker.cfg, tracker.cfg.n_ref_frames
    ref, labels = tracker.make_reference(rng, steps + k + 2)
    q0 = np.clip(ref[0] + rng.normal(0, c.init_noise, tracker.nq), tracker.qpos_lo, tracker.qpos_hi)
    tracker.reset(q0)
    tracker.data.act[:] = tracker.ctrl_for_length(tracker.len_jac @ q0 + tracker.len0)
    noise = np.zeros(tracker.nu)
    obs = np.zeros((steps + 1, tracker.obs_dim), np.float32)
    ctrl = np.zeros((steps + 1, tracker.nu), np.float32)
    qpos = np.zeros((steps + 1, tracker.nq), np.float32)
    init: dict[str, np.ndarray] = {}
    for i in range(steps + 1):
        if i == 1:
            init = tracker.state()
        obs[i] = tracker.observe(ref, i)
        qpos[i] = tracker.data.qpos
        ctrl[i] = tracker.expert(obs[i])
        noise = 0.8 * noise + rng.normal(0, c.ctrl_noise * 0.6, tracker.nu)
        if not tracker.step(ctrl[i] + noise):
            raise RuntimeError(f"clip seed {seed}: physics went non-finite at step {i}")
    # File convention: ctrl[t] moved the body from obs[t-1] to obs[t].
    err = np.abs(qpos[1:] - ref[1 : steps + 1])
    arrays = {
        "obs": obs[1:],
        "ctrl": ctrl[:-1],
        "qpos": qpos[1:],
        "reference": {
            "qpos": ref[1 : steps + 1 + k + 1].astype(np.float32),
            "regime": labels[1 : steps + 1],
        },
        "init": {k_: v.astype(np.float64) for k_, v in init.items()},
    }
    return arrays, {"tracking_error": float(err.mean())}


def worker_tracker(cfg: RodentSimConfig) -> RodentTracker:
    """A per-process tracker (cached), for multiprocessing generators."""
    global _TRACKER
    tr = globals().get("_TRACKER")
    if tr is None or tr.cfg != cfg:
        os.environ.setdefault("MUJOCO_GL", "egl")
        tr = RodentTracker(cfg)
        globals()["_TRACKER"] = tr
    return tr


_TRACKER: RodentTracker | None = None
