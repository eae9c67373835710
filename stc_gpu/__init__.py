"""stc-gpu: Sparsify-then-Classify on a frozen transformer's internal neurons."""
__version__ = "0.1.0"
