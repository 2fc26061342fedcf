"""End to end in a real headless Chromium (Selenium + Debian's chromium and chromium-driver).

One app per module on a free loopback port: pick a recorded session, navigate frames, run 20
iterations and watch the progress change, the action sweep, the attention view, save and load a
checkpoint; a corrupt session shows an error and the app keeps serving; files outside the roots are
refused; a second instance on another port saves without colliding. Screenshots of every tab are
kept in a temporary folder (or ``$SENSORIMOTOR_E2E_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("gradio")
pytest.importorskip("selenium")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver"
)

TIMEOUT = 240.0  # seconds; the first model compile on a busy 2-core machine is slow


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("SENSORIMOTOR_E2E_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("e2e-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def app(roots):
    """The explorer on a free loopback port, with a corrupt session beside the good ones."""
    from sensorimotor.explorer.app import launch

    bad = roots.sessions / "toroidal_dot" / "zz_corrupt"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "metadata.json").write_text('{"format": "sensorimotor-session", "robot_type": ')
    explorer, url = launch(roots, block=False, quiet=True)
    explorer.explorer_context.logic.configure("canvas_tiny", "debug", [])
    yield explorer, url
    explorer.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1500,1100",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(what: str, check: Callable[[], object], timeout: float = TIMEOUT) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:  # noqa: BLE001 - the page is still updating
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def text_of(driver, elem_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, elem_id).text


def click(driver, elem_id: str) -> None:
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.ID, elem_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def open_tab(driver, title: str) -> None:
    from selenium.webdriver.common.by import By

    tab = driver.find_element(By.XPATH, f"//button[@role='tab' and normalize-space()='{title}']")
    tab.click()
    time.sleep(0.5)


def type_into(driver, elem_id: str, value: str, enter: bool = False) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input, #{elem_id} textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(value)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        box.send_keys(Keys.TAB)


def pick_session(driver, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#session input").click()
    option = wait_for(
        f"session option {name}",
        lambda: [
            li
            for li in driver.find_elements(By.CSS_SELECTOR, "li[role='option']")
            if f"{name} (" in (li.get_attribute("textContent") or li.text or "")
        ],
    )
    option[0].click()
    time.sleep(0.5)


def test_explorer_in_chromium(app, browser, roots, artifacts) -> None:
    explorer, url = app
    d = browser
    d.get(url)
    wait_for("the session list", lambda: _value(d, "robot-type") == "toroidal_dot")

    # A corrupt session: a readable error in the page, and the app keeps serving.
    pick_session(d, "zz_corrupt")
    click(d, "open-session")
    wait_for("the corrupt-session error", lambda: "Error" in text_of(d, "session-status"))
    assert "zz_corrupt" in text_of(d, "session-status")
    d.save_screenshot(str(artifacts / "sessions-error.png"))

    pick_session(d, "a")
    click(d, "open-session")
    wait_for("the opened session", lambda: "Opened" in text_of(d, "session-status"))
    type_into(d, "frame-index", "3", enter=True)
    wait_for("frame 3", lambda: "frame 3" in text_of(d, "frames"))
    d.save_screenshot(str(artifacts / "sessions.png"))

    open_tab(d, "Run")
    type_into(d, "run-iterations", "20")
    click(d, "run-start")
    seen: set[str] = set()

    def finished() -> bool:
        seen.add(text_of(d, "run-progress"))
        return any(t.startswith("done") for t in seen)

    wait_for("20 iterations", finished)
    assert "iteration 20" in text_of(d, "run-progress")
    assert len(seen) >= 2, seen  # the progress changed while it ran
    time.sleep(1.0)
    d.save_screenshot(str(artifacts / "run.png"))

    open_tab(d, "Inference")
    click(d, "sweep-run")
    wait_for("the sweep", lambda: "sweep after frame" in text_of(d, "infer-status"))
    assert "recorded action" in text_of(d, "infer-status")
    click(d, "infer-run")
    wait_for("one-frame inference", lambda: "MSE" in text_of(d, "infer-status"))
    time.sleep(1.0)
    d.save_screenshot(str(artifacts / "inference.png"))

    open_tab(d, "Attention")
    click(d, "attn-run")
    wait_for("the attention view", lambda: "source patches" in text_of(d, "attn-status"))
    time.sleep(1.0)
    d.save_screenshot(str(artifacts / "attention.png"))

    open_tab(d, "Train / evaluate")
    type_into(d, "train-steps", "10")
    click(d, "train-start")
    wait_for("batch training", lambda: text_of(d, "train-status").startswith("done"))
    click(d, "eval-start")
    wait_for("evaluation", lambda: "evaluated" in text_of(d, "train-status"))
    time.sleep(1.0)
    d.save_screenshot(str(artifacts / "train.png"))

    open_tab(d, "Weights")
    click(d, "weights-run")
    wait_for("weights", lambda: "parameters" in text_of(d, "weights-status"))
    time.sleep(1.0)
    d.save_screenshot(str(artifacts / "weights.png"))

    open_tab(d, "Checkpoints")
    type_into(d, "ckpt-name", "e2e")
    click(d, "ckpt-save")
    wait_for("the save", lambda: "Saved" in text_of(d, "ckpt-status"))
    instance = explorer.explorer_context.instance
    saved = roots.runs / f"explore-{instance}-e2e"
    assert (saved / "checkpoints").is_dir() and (saved / "config.yaml").is_file()
    click(d, "ckpt-load")
    wait_for("the load", lambda: "Loaded" in text_of(d, "ckpt-status"))
    assert "'iteration': 20" in text_of(d, "ckpt-status")
    d.save_screenshot(str(artifacts / "checkpoints.png"))
    assert len(list(artifacts.glob("*.png"))) >= 8


def _value(driver, elem_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input").get_attribute("value")


def test_files_outside_the_roots_are_refused(app, roots, tmp_path) -> None:
    _, url = app
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the browser")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{url}gradio_api/file={secret}", timeout=30)
    assert refused.value.code in (403, 404)
    frame = next((roots.sessions / "toroidal_dot" / "a").rglob("*.png*"))
    with urllib.request.urlopen(f"{url}gradio_api/file={frame}", timeout=30) as ok:
        assert ok.status == 200


def test_two_instances_on_two_ports(app, roots) -> None:
    from sensorimotor.explorer.app import launch
    from sensorimotor.explorer.checkpoints import save_checkpoint

    first, url = app
    second, url2 = launch(roots, block=False, quiet=True)
    try:
        assert url2 != url
        with urllib.request.urlopen(url2, timeout=30) as page:
            assert page.status == 200
        saved = []
        for instance in (first, second):
            logic = instance.explorer_context.logic
            logic.configure("canvas_tiny", "debug", [])
            logic.open_session(roots.sessions / "toroidal_dot" / "b")
            logic.new_model()
            saved.append(save_checkpoint(logic, "shared-name"))
        assert saved[0] != saved[1] and all((p / "checkpoints").is_dir() for p in saved)
    finally:
        second.close()
