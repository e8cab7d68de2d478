"""Vigil's runtime: capture, cached convRNN inference on ONNX Runtime, Grad-CAM overlay, alerts.

Imports no TensorFlow, ever: training and export live in the `models` package.
"""

__version__ = "0.1.0"
