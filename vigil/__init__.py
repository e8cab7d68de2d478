"""The `vigil` command, above every package: the live monitor (streamer), data and evaluation,
the model (models) and the explanation tools (explain)."""

__version__ = "0.1.0"
