"""The live pipeline (`vigil run`): capture, cached convRNN inference on ONNX Runtime, the explained
picture, alerts, metrics, and the wiring. Imports no TensorFlow, ever."""
