"""Input conversion and validation shared by the probe backends (numpy, torch or cupy in)."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch


def is_cupy(array: Any) -> bool:
    """Whether ``array`` is a cupy ndarray (without importing cupy)."""
    return type(array).__module__.split(".")[0] == "cupy"


def as_tensor(array: Any, device: str | torch.device | None = None) -> torch.Tensor:
    """A torch view of a numpy / torch / cupy array (zero copy where possible), moved to ``device``.

    float16 and bfloat16 stay as they are here; callers upcast chunk by chunk.
    """
    if isinstance(array, torch.Tensor):
        tensor = array
    elif is_cupy(array):
        tensor = torch.from_dlpack(array)
    else:
        array = np.asarray(array)
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
        ):
            raise ValueError(f"features must be numeric, got dtype {array.dtype}")
        with warnings.catch_warnings():  # read-only arrays: the probe code never writes to X
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dtype == torch.bool or not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    return tensor if device is None else tensor.to(device)


def to_numpy(array: Any) -> np.ndarray:
    """A host numpy copy/view of a numpy / torch / cupy array."""
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    if is_cupy(array):
        return array.get()
    return np.asarray(array)


def encode_labels(y: Any, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, y_index)``: sorted unique labels and each row's class index.

    Raises ValueError for a length mismatch, fewer than two classes or missing labels.
    """
    y = to_numpy(y)
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
    if len(y) != n_rows:
        raise ValueError(f"X has {n_rows} rows but y has {len(y)} labels")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or inf")
    classes, y_index = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"y has only one class ({classes.tolist()!r}); a probe needs at least two classes"
        )
    return classes, y_index.astype(np.int64)
