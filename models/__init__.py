"""Training and export of the Vigil convRNN: the only package that imports TensorFlow.

Importing it registers Vigil's serializable Keras layers, so `keras.models.load_model` opens a
Vigil `model.keras` with Keras' default `safe_mode`.
"""

from models import layers as _layers  # noqa: F401  (registration side effect)
