"""HDF5 <-> pytree round trip and clear errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from sensorimotor.core.errors import DataError
from sensorimotor.data.h5tree import load_tree, read_attrs, tree_to_group, write_attrs


def test_round_trip_dicts_lists_and_attrs(tmp_path: Path) -> None:
    tree = {
        "obs": np.arange(12.0).reshape(3, 4),
        "layers": [{"w": np.ones((2, 2))}, {"w": np.zeros((2, 2))}],
        "meta": {"count": np.int64(3)},
    }
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        tree_to_group(f, tree)
        write_attrs(f, {"layout": {"a": [0, 2]}, "name": "x", "n": 3})
    back = load_tree(path)
    np.testing.assert_array_equal(back["obs"], tree["obs"])
    assert isinstance(back["layers"], list) and len(back["layers"]) == 2
    np.testing.assert_array_equal(back["layers"][1]["w"], np.zeros((2, 2)))
    assert int(back["meta"]["count"]) == 3
    with h5py.File(path, "r") as f:
        assert read_attrs(f) == {"layout": {"a": [0, 2]}, "name": "x", "n": 3}
    np.testing.assert_array_equal(load_tree(path, "layers/0/w"), np.ones((2, 2)))


def test_digit_keys_sorted_numerically(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        tree_to_group(f, {"l": [np.array(i) for i in range(12)]})
    assert [int(v) for v in load_tree(path)["l"]] == list(range(12))


def test_missing_key_and_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f["a"] = np.ones(2)
    with pytest.raises(DataError, match=r"t\.h5.*missing key 'b'"):
        load_tree(path, "b")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(DataError, match=r"bad\.h5"):
        load_tree(bad)
