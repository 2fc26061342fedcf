"""``sensorimotor sim``: list, lint, validate, render and view MuJoCo scenes."""

from __future__ import annotations

import argparse
import dataclasses
import json

from sensorimotor.cli.common import print_table
from sensorimotor.core.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    sim = subparsers.add_parser(
        "sim",
        help="MuJoCo scenes: list, lint, validate, render, view",
        description="MuJoCo simulation tooling. Scenes are names under sim/assets/scenes "
        "(test_scene, bimanual_bricks) or paths to .xml files.",
    )
    actions = sim.add_subparsers(dest="sim_command", metavar="ACTION", required=True)

    listing = actions.add_parser(
        "list", help="shipped scenes and robot models, with cameras and actuators"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=list_command)

    lint = actions.add_parser(
        "lint",
        help="check MJCF files: absolute or missing file references, mesh scales, compilation",
        description="Lint MJCF files (folders are searched for *.xml). Without PATHS, lints the "
        "shipped assets. Exit 1 when there is an error (or a warning with --strict).",
    )
    lint.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or folders (default: the shipped assets)"
    )
    lint.add_argument("--json", action="store_true", help="print the findings as JSON (for CI)")
    lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    lint.set_defaults(func=lint_command)

    validate = actions.add_parser(
        "validate",
        help="physics and rendering checks: determinism, NaN, warnings, penetration, energy, render",
        description="Step each scene under seeded random controls (twice) and check determinism, "
        "finiteness, MuJoCo warnings, penetration <= 5 cm, kinetic energy and render determinism. "
        "Writes frames, a video and summary.json to a run directory. Exit 1 when a check fails.",
    )
    validate.add_argument(
        "scenes",
        nargs="*",
        metavar="SCENE",
        help="scene names or paths (default: all shipped scenes)",
    )
    validate.add_argument(
        "--seconds", type=float, default=2.0, help="simulated seconds (default: %(default)s)"
    )
    validate.add_argument(
        "--seed", type=int, default=0, help="random-control seed (default: %(default)s)"
    )
    validate.add_argument(
        "--camera",
        help="camera to render (default: the scene's first camera; a scene without one is "
        "rendered from a free camera framed on the model)",
    )
    validate.add_argument(
        "--width", type=int, default=224, help="frame width in pixels (default: %(default)s)"
    )
    validate.add_argument(
        "--height", type=int, default=224, help="frame height in pixels (default: %(default)s)"
    )
    validate.add_argument("--no-render", action="store_true", help="skip the rendering checks")
    validate.add_argument(
        "--shadows",
        action="store_true",
        help="render shadows and reflections (off by default, as MujocoRobot renders: with "
        "software OpenGL they cost seconds per frame on large scenes)",
    )
    validate.add_argument(
        "--max-penetration", type=float, default=0.05, help="metres (default: %(default)s)"
    )
    validate.add_argument(
        "--root", default="runs", help="where run directories go (default: %(default)s)"
    )
    validate.add_argument("--name", help="run directory name (default: validate-<time>)")
    validate.add_argument("--json", action="store_true", help="print the summaries as JSON")
    validate.set_defaults(func=validate_command)

    render = actions.add_parser(
        "render",
        help="render a scene headless to PNG frames and an MP4",
        description="Simulate a scene (optionally under seeded random controls) and render it "
        "offscreen from a named camera to frames/*.png and video.mp4 in a run directory.",
    )
    render.add_argument("scene", help="scene name or path")
    render.add_argument("--camera", help="camera name (default: the scene's first camera)")
    render.add_argument(
        "--width", type=int, default=320, help="frame width in pixels (default: %(default)s)"
    )
    render.add_argument(
        "--height", type=int, default=240, help="frame height in pixels (default: %(default)s)"
    )
    render.add_argument(
        "--seconds", type=float, default=2.0, help="simulated seconds (default: %(default)s)"
    )
    render.add_argument(
        "--fps", type=float, default=25.0, help="frames per simulated second (default: %(default)s)"
    )
    mode = render.add_mutually_exclusive_group()
    mode.add_argument("--depth", action="store_true", help="render depth (shown as grey)")
    mode.add_argument("--segmentation", action="store_true", help="render object segmentation")
    render.add_argument(
        "--random-controls", action="store_true", help="drive the actuators randomly"
    )
    render.add_argument(
        "--seed", type=int, default=0, help="random-control seed (default: %(default)s)"
    )
    render.add_argument(
        "--root", default="runs", help="where run directories go (default: %(default)s)"
    )
    render.add_argument("--name", help="run directory name (default: render-<time>)")
    render.set_defaults(func=render_command)

    view = actions.add_parser(
        "view",
        help="open a scene in MuJoCo's interactive viewer (needs a display)",
        description="Open a scene in the interactive viewer and simulate it in real time. "
        "See docs/viewer-debug-checklist.md for a debugging walkthrough.",
    )
    view.add_argument("scene", help="scene name or path")
    view.add_argument("--show-contacts", action="store_true", help="draw contact points and forces")
    view.add_argument("--show-joints", action="store_true", help="draw joint axes")
    view.add_argument(
        "--paused", action="store_true", help="start paused (space toggles, right arrow steps once)"
    )
    view.set_defaults(func=view_command)


def list_command(args: argparse.Namespace) -> int:
    from sensorimotor.sim.scenes import (
        actuator_names,
        available_robots,
        available_scenes,
        camera_names,
        load_model,
        resolve_robot_path,
    )

    rows = []
    for kind, names in (("scene", available_scenes()), ("robot", available_robots())):
        for name in names:
            model = load_model(name if kind == "scene" else resolve_robot_path(name))
            rows.append(
                {
                    "kind": kind,
                    "name": name,
                    "cameras": camera_names(model),
                    "actuators": actuator_names(model),
                    "bodies": model.nbody,
                    "timestep": model.opt.timestep,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [
        {**r, "cameras": ", ".join(r["cameras"]) or "-", "actuators": len(r["actuators"])}
        for r in rows
    ]
    print_table(table, ["kind", "name", "bodies", "actuators", "cameras"])
    return 0


def lint_command(args: argparse.Namespace) -> int:
    from sensorimotor.sim.lint import lint_paths

    result = lint_paths(args.paths or None)
    if args.json:
        print(result.to_json())
    else:
        for finding in result.findings:
            print(finding.format())
        print(
            f"{len(result.files)} file(s): {len(result.errors)} error(s), "
            f"{len(result.warnings)} warning(s)"
        )
    failed = bool(result.errors) or (args.strict and bool(result.warnings))
    return 1 if failed else 0


def validate_command(args: argparse.Namespace) -> int:
    from sensorimotor.core.fs import make_unique_dir
    from sensorimotor.core.rundir import RunDir
    from sensorimotor.sim.checks import ValidationConfig, validate_scene, write_validation
    from sensorimotor.sim.scenes import available_scenes, resolve_scene_path, scene_name

    try:
        config = ValidationConfig(
            seconds=args.seconds,
            seed=args.seed,
            render=not args.no_render,
            camera=args.camera,
            width=args.width,
            height=args.height,
            max_penetration=args.max_penetration,
            shadows=args.shadows,
            reflections=args.shadows,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    scenes = args.scenes or available_scenes()
    for scene in scenes:
        resolve_scene_path(scene)  # unknown names fail before any work
    run = RunDir.create(args.root, name=args.name, prefix="validate", config=config, seed=args.seed)
    summaries, all_passed = [], True
    for scene in scenes:
        report = validate_scene(scene, config, progress=not args.json)
        # One folder per scene; files with the same stem (a/scene.xml, b/scene.xml) get
        # scene, scene-2, ... instead of overwriting each other.
        folder = make_unique_dir(run.path, scene_name(scene)) if len(scenes) > 1 else run.path
        write_validation(report, folder, config)
        summaries.append(report.to_dict())
        all_passed &= report.passed
        if not args.json:
            print(f"{report.scene}: {'PASS' if report.passed else 'FAIL'}")
            for check in report.checks:
                print(f"  {'ok  ' if check.passed else 'FAIL'} {check.name:<12} {check.message}")
    if args.json:
        print(
            json.dumps(
                {"run": str(run.path), "passed": all_passed, "scenes": summaries},
                indent=2,
                default=float,
            )
        )
    else:
        print(f"results: {run.path}")
    return 0 if all_passed else 1


def render_command(args: argparse.Namespace) -> int:
    import mujoco

    from sensorimotor.core.rng import np_rng
    from sensorimotor.core.rundir import RunDir
    from sensorimotor.sim.checks import framed_camera, random_controls
    from sensorimotor.sim.render import (
        RenderConfig,
        depth_to_rgb,
        render_trajectory,
        save_sample_frames,
        save_video,
        segmentation_to_rgb,
    )
    from sensorimotor.sim.scenes import camera_names, load_scene

    if args.seconds <= 0 or args.fps <= 0:
        raise UserError(f"--seconds and --fps must be positive, got {args.seconds} and {args.fps}")
    model, data = load_scene(args.scene)
    cameras = camera_names(model)
    camera = args.camera or (cameras[0] if cameras else None)
    saved = RenderConfig(camera, args.width, args.height, args.depth, args.segmentation)
    config = saved
    if camera is None:  # no named camera: a free camera framed on the model, and say so
        framed = framed_camera(model)
        config = dataclasses.replace(saved, camera=framed)  # type: ignore[arg-type]
        saved = dataclasses.replace(saved, camera="free (framed on the model)")
        print(
            f"{args.scene}: no named camera; rendering from a free camera framed on the model "
            f"(distance {framed.distance:.3g} m)"
        )
    dt = model.opt.timestep
    n_steps = max(1, round(args.seconds / dt))
    every = max(1, round(1.0 / (args.fps * dt)))
    control = None
    if args.random_controls and model.nu:
        rng = np_rng(args.seed, "render", "controls")
        hold = max(1, round(0.05 / dt))

        def control(model: mujoco.MjModel, data: mujoco.MjData, step: int) -> None:
            if step % hold == 0:
                data.ctrl[:] = random_controls(model, rng)

    frames = render_trajectory(model, data, n_steps, config, every, control, progress=True)
    if config.depth:
        frames = depth_to_rgb(frames)
    elif config.segmentation:
        frames = segmentation_to_rgb(frames)
    run = RunDir.create(args.root, name=args.name, prefix="render", config=saved, seed=args.seed)
    video = save_video(frames, run.path / "video.mp4", fps=1.0 / (every * dt))
    save_sample_frames(frames, run.path / "frames")
    print(f"{len(frames)} frames from camera {saved.camera!r} -> {video} and {run.path / 'frames'}")
    return 0


def view_command(args: argparse.Namespace) -> int:
    from sensorimotor.sim.viewer import view_scene

    view_scene(args.scene, args.show_contacts, args.show_joints, args.paused)
    return 0
