"""A saved classifier as a folder that serves without the training stack.

:mod:`stc_gpu.export.writer` builds it (torch, ONNX export); :mod:`stc_gpu.export.runtime` serves
it with onnxruntime, tokenizers and numpy only (this package imports neither on its own).
"""
