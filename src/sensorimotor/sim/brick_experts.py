"""Scripted experts for the brick tasks: IK via MuJoCo Jacobians, joint-space interpolation.

An expert plans the whole episode at reset from the brick poses: a few gripper waypoints
(above the brick, at the brick, lifted ...) solved to joint targets by damped least squares on
the grip site (the wrist pitch keeps the gripper pointing down, the wrist roll lines the fingers up
with the brick's short side), then linearly interpolated at the control rate.
"""

from __future__ import annotations

import mujoco
import numpy as np

from sensorimotor.sim.brick_tasks import ARM_JOINTS, BRICK_Z, BrickEpisode, BrickTaskEnv

OPEN, CLOSED = 0.03, 0.0
GRASP_Z = BRICK_Z + 0.004  # grip site height when the fingers hold a brick
ABOVE_Z = BRICK_Z + 0.10
LIFT_Z = BRICK_Z + 0.14
#: Every expert episode is padded (holding the last target) to this many control steps.
EPISODE_STEPS = 40


def solve_ik(
    model: mujoco.MjModel, arm: str, target: np.ndarray, yaw: float, guess: np.ndarray | None = None
) -> np.ndarray:
    """Joint targets ``(pan, lift, elbow, pitch, roll)`` of ``arm`` that put its grip site at
    ``target`` with the gripper pointing down and the fingers closing across a brick of ``yaw``."""
    scratch = mujoco.MjData(model)
    ids = [model.joint(f"{arm}/{j}").id for j in ARM_JOINTS]
    qadr, dofs = model.jnt_qposadr[ids], model.jnt_dofadr[ids]
    low, high = model.jnt_range[ids, 0], model.jnt_range[ids, 1]
    site = model.site(f"{arm}/grip_site").id
    q = np.array([0.0, 0.5, 0.5, 0.0, 0.0]) if guess is None else np.array(guess, float)
    jacp = np.zeros((3, model.nv))
    for _ in range(200):
        q[3] = -(q[1] + q[2])  # pitch joints are parallel: their sum 0 keeps the gripper vertical
        scratch.qpos[qadr] = q
        mujoco.mj_kinematics(model, scratch)
        mujoco.mj_comPos(model, scratch)
        err = target - scratch.site_xpos[site]
        if np.linalg.norm(err) < 1e-4:
            break
        mujoco.mj_jacSite(model, scratch, jacp, None, site)
        jac = np.stack(
            [
                jacp[:, dofs[0]],
                jacp[:, dofs[1]] - jacp[:, dofs[3]],
                jacp[:, dofs[2]] - jacp[:, dofs[3]],
            ],
            axis=1,
        )
        q[:3] += jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(3), err)
        q[:3] = np.clip(q[:3], low[:3], high[:3])
    base_yaw = 0.0 if arm == "left" else np.pi
    q[4] = (yaw - base_yaw - q[0] + np.pi / 2) % np.pi - np.pi / 2
    return np.clip(q, low, high)


def interpolate(waypoints: list[tuple[np.ndarray, int]], start: np.ndarray) -> np.ndarray:
    """Linear interpolation from ``start`` through ``(target, steps)`` waypoints: ``(T, A)``."""
    out, current = [], np.asarray(start, float)
    for target, steps in waypoints:
        for k in range(1, steps + 1):
            out.append(current + (target - current) * (k / steps))
        current = np.asarray(target, float)
    return np.stack(out)


def _arm_action(home: np.ndarray, arm: str, joints: np.ndarray, gripper: float) -> np.ndarray:
    action = home.copy()
    offset = 0 if arm == "left" else 6
    action[offset : offset + 5], action[offset + 5] = joints, gripper
    return action


def pick_plan(env: BrickTaskEnv, episode: BrickEpisode, arm: str) -> np.ndarray:
    """Pick the target brick with ``arm``: above, down, close, lift, hold."""
    x, y, yaw = episode.poses[episode.color]
    home = env.home_action()
    above = solve_ik(env.model, arm, np.array([x, y, ABOVE_Z]), yaw)
    grasp = solve_ik(env.model, arm, np.array([x, y, GRASP_Z]), yaw, above)
    lift = solve_ik(env.model, arm, np.array([x, y, LIFT_Z]), yaw, grasp)
    return interpolate(
        [
            (_arm_action(home, arm, above, OPEN), 10),
            (_arm_action(home, arm, grasp, OPEN), 6),
            (_arm_action(home, arm, grasp, CLOSED), 5),
            (_arm_action(home, arm, lift, CLOSED), 8),
        ],
        home,
    )


def push_plan(env: BrickTaskEnv, episode: BrickEpisode) -> np.ndarray:
    """Push the target brick along +x with the closed left gripper, fingers across the push."""
    x, y, _ = episode.poses[episode.color]
    home = env.home_action()
    yaw = np.pi / 2  # fingers side by side along y: a wide pusher
    behind = solve_ik(env.model, "left", np.array([x - 0.075, y, ABOVE_Z]), yaw)
    down = solve_ik(env.model, "left", np.array([x - 0.075, y, GRASP_Z]), yaw, behind)
    pushed = solve_ik(env.model, "left", np.array([x + 0.04, y, GRASP_Z]), yaw, down)
    up = solve_ik(env.model, "left", np.array([x + 0.04, y, ABOVE_Z]), yaw, pushed)
    return interpolate(
        [
            (_arm_action(home, "left", behind, CLOSED), 10),
            (_arm_action(home, "left", down, CLOSED), 6),
            (_arm_action(home, "left", pushed, CLOSED), 12),
            (_arm_action(home, "left", up, CLOSED), 5),
        ],
        home,
    )


def expert_plan(env: BrickTaskEnv, episode: BrickEpisode) -> tuple[np.ndarray, str]:
    """The expert's joint targets ``(EPISODE_STEPS, 12)`` for ``episode`` and the arm it uses
    (``pick_any`` picks the arm from the episode seed: either is equally good)."""
    if episode.task == "push_right":
        plan, arm = push_plan(env, episode), "left"
    elif episode.task == "pick_left":
        plan, arm = pick_plan(env, episode, "left"), "left"
    else:
        arm = "left" if np.random.default_rng([episode.seed, 1]).random() < 0.5 else "right"
        plan = pick_plan(env, episode, arm)
    pad = np.repeat(plan[-1:], EPISODE_STEPS - len(plan), axis=0)
    return np.concatenate([plan, pad]).astype(np.float32), arm
