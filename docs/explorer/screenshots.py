"""Take the screenshots in docs/explorer.md with a headless Chromium.

    python docs/explorer/screenshots.py ROOT [--out docs/explorer]

ROOT holds ``saved/sessions/toroidal_dot/{walk,walk-2}`` (224x224 toroidal-dot sessions) and
``runs/trained`` (``sensorimotor run robot=replay selector=recorded`` on ``walk`` with
``model=canvas``); see docs/explorer.md for the exact commands.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "explorer"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from test_e2e import _value, click, open_tab, text_of, type_into, wait_for

    from sensorimotor.explorer.app import launch
    from sensorimotor.explorer.roots import Roots

    out = Path(args.out)
    roots = Roots.under(args.root)
    app, url = launch(roots, block=False, quiet=True)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1500",
    ):
        options.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        d.get(url)
        wait_for("robot types", lambda: _value(d, "robot-type") == "toroidal_dot", 60)
        time.sleep(2)
        # The session list opens on the newest session (walk-2).
        click(d, "open-session")
        wait_for("session", lambda: "Opened" in text_of(d, "session-status"))
        type_into(d, "frame-index", "120", enter=True)
        time.sleep(3)
        d.save_screenshot(str(out / "sessions.png"))

        open_tab(d, "Checkpoints")
        type_into(d, "ckpt-path", str(roots.runs / "trained"))
        click(d, "ckpt-list-refresh")
        click(d, "ckpt-load")
        wait_for("load", lambda: "Loaded" in text_of(d, "ckpt-status"))
        time.sleep(2)
        d.save_screenshot(str(out / "checkpoints.png"))

        open_tab(d, "Run")
        type_into(d, "run-iterations", "60")
        click(d, "run-start")
        wait_for("run", lambda: text_of(d, "run-progress").startswith("done"), 900)
        time.sleep(3)
        d.save_screenshot(str(out / "run.png"))

        open_tab(d, "Inference")
        type_into(d, "infer-frame", "45")
        click(d, "infer-run")
        wait_for("infer", lambda: "MSE" in text_of(d, "infer-status"))
        click(d, "sweep-run")
        wait_for("sweep", lambda: "sweep after" in text_of(d, "infer-status"))
        time.sleep(3)
        d.save_screenshot(str(out / "inference.png"))

        open_tab(d, "Attention")
        type_into(d, "attn-frame", "45")
        click(d, "attn-run")
        wait_for("attention", lambda: "source patches" in text_of(d, "attn-status"))
        time.sleep(3)
        d.save_screenshot(str(out / "attention.png"))

        open_tab(d, "Train / evaluate")
        type_into(d, "train-steps", "40")
        click(d, "train-start")
        wait_for("train", lambda: text_of(d, "train-status").startswith("done"), 900)
        click(d, "eval-start")
        wait_for("eval", lambda: "evaluated" in text_of(d, "train-status"), 900)
        time.sleep(3)
        d.save_screenshot(str(out / "train.png"))

        open_tab(d, "Weights")
        click(d, "weights-run")
        wait_for("weights", lambda: "parameters" in text_of(d, "weights-status"))
        time.sleep(3)
        d.save_screenshot(str(out / "weights.png"))
    finally:
        d.quit()
        app.close()


if __name__ == "__main__":
    main()
