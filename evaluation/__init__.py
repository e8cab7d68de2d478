"""Data and evaluation: synthetic scenes, class-per-folder data sets, scores, explanation fidelity."""
