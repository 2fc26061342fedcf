"""Explorer benchmarks: frame navigation latency and the Run tab's iterations/s.

1. Frame navigation, request → image, on a 224×224 session: the app's "go to frame" endpoint called
   over HTTP with Gradio's client (the images come back as files, as in the browser), against the
   logic layer's own frame read in the same run. Target: < 100 ms.
2. Iterations/s of the Run tab against ``sensorimotor run``'s online loop (``run_canvas``) on the
   same replayed session with the same config, in the same run: the logic generator alone and the
   whole app over HTTP (its throttled page updates included). Target: ≥ 0.9×.

    python benchmarks/explorer.py [--iterations 80] [--warmup 20] [--model canvas]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from common import machine_info, print_rows


def record_session(root: Path, steps: int) -> Path:
    from sensorimotor.robots.runner import RobotRunner
    from sensorimotor.robots.selectors import RandomDurationSelector
    from sensorimotor.robots.toroidal_dot import ToroidalDotConfig, ToroidalDotRobot

    dot = ToroidalDotRobot(ToroidalDotConfig(seed=0))  # 224 x 224
    runner = RobotRunner(
        dot,
        RandomDurationSelector(dot.action_space, 1, 10, seed=0),
        steps=steps,
        record_to=root,
        session_name="bench",
        progress=False,
    )
    return runner.run().session


def navigation(app, url: str, explorer, session: Path, frames: int) -> list[dict]:
    """Per frame: what the page does when a frame index is typed (one POST to the app, then one GET
    of the image it returns), against the logic layer's frame read alone."""
    from sensorimotor.explorer.plots import upscale
    from sensorimotor.explorer.sessions import frame_images

    explorer.open_session(session)  # (the page's dropdown choices live in the browser session)
    fn = next(
        i for i, d in enumerate(app.config["dependencies"]) if d.get("api_name") == "goto_typed"
    )
    http, local = [], []
    for i in range(frames):
        t0 = time.perf_counter()
        body = json.dumps({"data": [i], "fn_index": fn, "session_hash": "bench"}).encode()
        request = urllib.request.Request(
            f"{url}gradio_api/run/predict", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            gallery = json.loads(response.read())["data"][2]
        with urllib.request.urlopen(gallery[0]["image"]["url"], timeout=60) as response:
            assert response.read(4) == b"\x89PNG", "frames are served as PNG"
        http.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        [upscale(x, 224) for x in frame_images(explorer.reader, i).values()]
        local.append(time.perf_counter() - t0)
    med = statistics.median(local)
    return [
        _row("logic layer frame read (baseline)", local, med),
        _row("app: request → image over HTTP", http, med),
    ]


def _row(name: str, times: list[float], base: float) -> dict:
    times = sorted(times)
    med = statistics.median(times)
    return {
        "variant": name,
        "median ms": round(1e3 * med, 1),
        "p95 ms": round(1e3 * times[int(0.95 * (len(times) - 1))], 1),
        "ratio": round(med / base, 2),
    }


def run_loop_rate(config, iterations: int, warmup: int) -> float:
    """Iterations/s of ``sensorimotor run``'s loop after ``warmup`` iterations."""
    from sensorimotor.train.canvas.online import run_canvas

    stamps: list[float] = []
    config.steps = warmup + iterations
    run_canvas(config, callback=lambda info, model: stamps.append(time.perf_counter()))
    return iterations / (stamps[-1] - stamps[warmup - 1])


def explorer_rate(explorer, iterations: int, warmup: int) -> float:
    explorer.new_model()
    stamps = [time.perf_counter() for p in explorer.run(warmup + iterations) if not p.finished]
    return iterations / (stamps[-1] - stamps[warmup - 1])


def app_rate(client, explorer, model: str, iterations: int, warmup: int) -> float:
    """The Run button over HTTP: a warm-up call, then the timed call (model already compiled)."""
    explorer.model = None
    client.predict(model, "online", f"steps={warmup + iterations}", warmup, api_name="/run")
    t0 = time.perf_counter()
    client.predict(model, "online", f"steps={warmup + iterations}", iterations, api_name="/run")
    return iterations / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=80)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="canvas")
    parser.add_argument("--only", choices=["navigation", "run"], help="run one part only")
    args = parser.parse_args()

    from gradio_client import Client

    from sensorimotor.core.jaxcache import enable_compilation_cache
    from sensorimotor.explorer.app import launch
    from sensorimotor.explorer.roots import Roots

    enable_compilation_cache()
    with tempfile.TemporaryDirectory() as tmp:
        roots = Roots.under(tmp)
        session = record_session(roots.sessions, args.warmup + args.iterations + 40)
        app, url = launch(roots, block=False, quiet=True)
        try:
            client = Client(
                url, verbose=False, download_files=False
            )  # as a browser: no file downloads in this process
            explorer = app.explorer_context.logic
            if args.only != "run":
                rows = navigation(app, url, explorer, session, args.frames)
                print("frame navigation, 224x224 frames:")
                print_rows(rows)
                if args.only == "navigation":
                    return

            explorer.open_session(session)
            explorer.configure(args.model, "online", [f"steps={args.warmup + args.iterations}"])
            rates: dict[str, list[float]] = {"run": [], "logic": [], "app": []}
            for _ in range(args.rounds):  # interleaved: the machine's load drifts
                config = explorer.run_config(explorer.reader)
                rates["run"].append(run_loop_rate(config, args.iterations, args.warmup))
                rates["logic"].append(explorer_rate(explorer, args.iterations, args.warmup))
                rates["app"].append(
                    app_rate(client, explorer, args.model, args.iterations, args.warmup)
                )
                print({k: [round(x, 2) for x in v] for k, v in rates.items()}, flush=True)
        finally:
            app.close()
    ref = statistics.median(rates["run"])
    names = {
        "run": "sensorimotor run loop (baseline)",
        "logic": "explorer logic generator",
        "app": "explorer app over HTTP (page updates included)",
    }
    print(f"\nRun tab vs `sensorimotor run` ({args.model}, online trainer, 224x224 session):")
    print_rows(
        [
            {
                "variant": names[k],
                "median it/s": round(statistics.median(v), 2),
                "rounds": " ".join(f"{x:.2f}" for x in v),
                "ratio": round(statistics.median(v) / ref, 3),
            }
            for k, v in rates.items()
        ]
    )
    print("\nmachine:", machine_info())


if __name__ == "__main__":
    main()
