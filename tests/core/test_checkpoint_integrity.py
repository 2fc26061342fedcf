"""Checkpoints catch bit rot (checksums), non-finite values and missing metadata, and say so."""

import json

import numpy as np
import pytest

from sensorimotor.core.checkpoint import CheckpointManager
from sensorimotor.core.errors import DataError


def _weights(seed):
    return np.random.default_rng(seed).standard_normal((256, 256)).astype(np.float32)


def _largest_data_file(step_dir):
    files = [f for f in (step_dir / "state").rglob("*") if f.is_file() and "/d/" in f.as_posix()]
    return max(files, key=lambda f: f.stat().st_size)


def test_a_flipped_byte_is_caught_and_the_previous_checkpoint_restored(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3)
    manager.save(1, {"w": _weights(1)})
    manager.save(2, {"w": _weights(2)})
    meta = json.loads((tmp_path / "step_00000002" / "metadata.json").read_text())
    assert meta["checksums"]["algorithm"] == "sha256" and meta["checksums"]["files"]
    data = _largest_data_file(tmp_path / "step_00000002")
    damaged = bytearray(data.read_bytes())
    damaged[int(len(damaged) * 0.3)] ^= 0x40  # orbax itself restores this without a word
    data.write_bytes(bytes(damaged))
    with pytest.warns(UserWarning, match=rf"{data.name}: checksum mismatch"):
        tree, meta = manager.restore()
    assert meta["step"] == 1
    np.testing.assert_array_equal(tree["w"], _weights(1))
    with pytest.raises(DataError, match="checksum mismatch"), pytest.warns(UserWarning):
        manager.restore(step=2)


def test_a_missing_state_file_is_caught(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3)
    manager.save(1, {"w": _weights(1)})
    _largest_data_file(tmp_path / "step_00000001").unlink()
    with pytest.raises(DataError, match="file is missing"), pytest.warns(UserWarning):
        manager.restore()


def test_non_finite_restored_values_are_refused(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3)
    manager.save(1, {"w": _weights(1)})
    bad = _weights(2)
    bad[3, 4] = np.nan
    manager.save(2, {"params": {"w": bad}, "step": 7})
    with pytest.warns(UserWarning, match=r"not finite \(NaN/Inf in \['params'\]\['w'\]\)"):
        tree, meta = manager.restore()
    assert meta["step"] == 1


def test_a_checkpoint_without_metadata_is_skipped_with_a_message(tmp_path):
    manager = CheckpointManager(tmp_path, keep=3)
    manager.save(1, {"w": _weights(1)})
    manager.save(2, {"w": _weights(2)})
    (tmp_path / "step_00000002" / "metadata.json").unlink()
    with pytest.warns(UserWarning, match=r"step_00000002 lacks a readable metadata.json"):
        tree, meta = manager.restore()
    assert meta["step"] == 1
