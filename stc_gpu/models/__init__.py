"""Model loading, tiny offline models, and one capture-site adapter per architecture family."""
from stc_gpu.models.adapters import SUPPORTED_MODEL_TYPES, ModelAdapter, adapter_for

__all__ = ["SUPPORTED_MODEL_TYPES", "ModelAdapter", "adapter_for"]
