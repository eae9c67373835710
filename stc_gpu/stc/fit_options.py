"""How the fits of a search run: one typed options object, and where it runs.

The probes and the aggregation pass a :class:`FitOptions` whole (to :func:`probe_labels`,
:func:`aggregate_labels` and their tasks) instead of threading backend, device, max_iter, tol,
multiclass, metric and patience one keyword at a time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from stc_gpu.config import STCConfig
from stc_gpu.vocabulary import DEFAULT_MAX_ITER, DEFAULT_MULTICLASS, DEFAULT_TOL


@dataclass(frozen=True)
class FitOptions:
    """The solver and selection options of every fit of a search (those of
    :func:`stc_gpu.probe.fit_path`), plus how many bytes of features one batched solve may hold.

    ``patience=None``: no validation early stop. ``device=None``: the solver's default.
    """

    metric: str = "accuracy"
    backend: str = "auto"
    device: str | None = None
    max_iter: int = DEFAULT_MAX_ITER
    tol: float = DEFAULT_TOL
    multiclass: str = DEFAULT_MULTICLASS
    patience: int | None = None
    max_batch_bytes: int = 1 << 30

    @classmethod
    def from_config(cls, config: STCConfig, device: str | None = None) -> "FitOptions":
        """The options of ``config``, fitting on ``device`` (default :func:`fit_device`)."""
        return cls(metric=config.metric, backend=config.backend,
                   device=fit_device(config) if device is None else str(device),
                   max_iter=config.max_iter, tol=config.tol, multiclass=config.multiclass,
                   patience=config.patience)

    def path_keywords(self) -> dict:
        """The keyword arguments of :func:`stc_gpu.probe.fit_path` these options set."""
        keywords = asdict(self)
        del keywords["max_batch_bytes"]
        return keywords


def fit_device(config: STCConfig, extractor=None) -> str:
    """The device the probes and the aggregation run on.

    ``config.device`` when set (an explicit ``"cpu"`` keeps every fit on the CPU); else the
    extraction's device (``extractor.device``), so fits run where the forward pass ran; else
    ``"cuda"`` when CUDA is available, else ``"cpu"``. With ``backend="auto"`` the batched fits
    then run on our torch solver on that device (:func:`stc_gpu.probe.path.resolve_backend`).
    """
    if config.device is not None:
        return str(config.device)
    if extractor is not None and getattr(extractor, "device", None) is not None:
        return str(extractor.device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
