"""Locating the LOKI test data of spec/polar.md §10 (shared/data/loki, not part of the repository)."""

from pathlib import Path

import numpy as np
import pytest

LOKI = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "loki"


def loki_file(name: str) -> Path:
    path = LOKI / name
    if not path.exists():
        pytest.skip(f"LOKI test data {path} is absent (see shared/data/README.md)")
    return path


def bragg_rings() -> tuple[np.ndarray, np.ndarray]:
    """(14, 5000) uint16 Au(111) ring profiles and their shared (5000,) bool mask."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(loki_file("bragg_rings.hdf5"), "r") as f:
        return f["111_Bragg_rings"][...], f["111_mask"][...].astype(bool)


def loki_image() -> tuple[np.ndarray, np.ndarray]:
    """The 300×300 float32 ring pattern and its bool mask of LOKI's examples."""
    return np.load(loki_file("test_img.npy")), np.load(loki_file("test_mask.npy")).astype(bool)

