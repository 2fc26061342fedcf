"""Recursive HDF5 <-> pytree conversion.

Datasets become numpy arrays, groups whose keys are all digits become lists (ordered by the
integer key), other groups become dicts. Attributes are read separately (``read_attrs``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from sensorimotor.core.errors import DataError

PyTree = Any


def group_to_tree(group: h5py.Group | h5py.Dataset, *, file: str | Path = "?") -> PyTree:
    """Read an HDF5 group (or dataset) into nested dicts/lists of numpy arrays."""
    if isinstance(group, h5py.Dataset):
        try:
            return group[()]
        except (OSError, ValueError) as exc:
            raise DataError(f"{file}: cannot read dataset {group.name!r}: {exc}") from exc
    keys = list(group.keys())
    if keys and all(k.isdigit() for k in keys):
        return [group_to_tree(group[k], file=file) for k in sorted(keys, key=int)]
    return {k: group_to_tree(group[k], file=file) for k in keys}


def load_tree(path: str | Path, key: str = "/") -> PyTree:
    """The pytree stored under ``key`` in the HDF5 file at ``path``."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise DataError(f"{path}: missing key {key!r}; present: {sorted(f.keys())}")
            return group_to_tree(f[key], file=path)
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc})") from exc


def tree_to_group(group: h5py.Group, tree: PyTree, *, compression: str | None = None) -> None:
    """Write a pytree of arrays (dicts, lists, tuples) into ``group``; inverse of group_to_tree."""
    items: Mapping[str, Any]
    if isinstance(tree, Mapping):
        items = {str(k): v for k, v in tree.items()}
    elif isinstance(tree, list | tuple):
        items = {str(i): v for i, v in enumerate(tree)}
    else:
        raise TypeError(f"expected a dict or list at {group.name!r}, got {type(tree).__name__}")
    for k, v in items.items():
        if isinstance(v, Mapping | list | tuple):
            tree_to_group(group.create_group(k), v, compression=compression)
        else:
            arr = np.asarray(v)
            group.create_dataset(k, data=arr, compression=compression if arr.ndim else None)


def read_attrs(obj: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    """Attributes as Python values; strings that hold JSON objects/lists are decoded."""
    out: dict[str, Any] = {}
    for k, v in obj.attrs.items():
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, str) and v[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                v = json.loads(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def write_attrs(obj: h5py.Group | h5py.Dataset, attrs: Mapping[str, Any]) -> None:
    """Write attributes; dicts and lists are stored as JSON strings."""
    for k, v in attrs.items():
        obj.attrs[k] = json.dumps(v) if isinstance(v, Mapping | list | tuple) else v
