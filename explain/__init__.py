"""Explanation tools for investigators and engineers: `vigil explain`'s methods, features and
report (TensorFlow)."""
