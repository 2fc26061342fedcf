"""Two sweep worker processes sharing one study in a real PostgreSQL server (started here on
127.0.0.1 from the Debian ``postgresql`` package; skipped where it or psycopg2 is missing)."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from sensorimotor.train.sweep import SweepConfig, run_sweep
from tests.train.test_sweep import FAST, TOY, completed_once

pytestmark = pytest.mark.postgres
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    pytest.importorskip("psycopg2", reason="pip install -e '.[postgres]'")
    initdb = str(PG_BIN / "initdb") if (PG_BIN / "initdb").is_file() else shutil.which("initdb")
    if not initdb or not os.access(initdb, os.X_OK):
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    # The server refuses to run as root: run it as the package's postgres user then.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="sensorimotor-pg-"))  # pytest's tmp is root-only
    if as_user:
        shutil.chown(home, "postgres")
    data, port = home / "data", _free_port()
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True)  # noqa: E731
    run(initdb, "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-h 127.0.0.1 -p {port} -k {home}"
    run(pg_ctl, "-D", str(data), "-l", str(home / "log"), "-o", options, "-w", "start")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(home, ignore_errors=True)


def test_two_workers_share_one_study_in_postgresql(tmp_path, postgres_url):
    config = SweepConfig(**{**FAST, "phase_a_trials": 6, "phase_b_top": 1, "phase_b_seeds": 2})
    config = SweepConfig(**{**config.__dict__, "storage": postgres_url, "workers": 2})
    result = run_sweep(
        TOY, {"curvature": 4.0, "sleep_s": 0.05}, config, tmp_path, name="pg", fallback_lr=1e-3
    )
    done, trials = completed_once(postgres_url, "pg-A")
    assert done == {f"A{i}" for i in range(6)} and len(trials) == 6  # none lost, none extra
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers took trials
    assert completed_once(postgres_url, "pg-B")[0] == {"B0-0", "B0-1"}
    assert result.source == "phase_b" and result.storage == postgres_url
