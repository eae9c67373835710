"""The Zarr v3 feature store: entries keyed by (model fingerprint, dataset fingerprint)."""
from stc_gpu.store.feature_store import EntryInfo, FeatureStore, StoreEntry
from stc_gpu.store.fingerprint import dataset_fingerprint, model_fingerprint
from stc_gpu.store.lock import StoreLockedError

__all__ = ["EntryInfo", "FeatureStore", "StoreEntry", "StoreLockedError", "dataset_fingerprint",
           "model_fingerprint"]
