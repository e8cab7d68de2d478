"""Serving a bundle to many monitors from one inference server (NVIDIA Triton): the protocol both
sides share, the server (`vigil serve`, in Triton's own Python environment) and the model
repository for the production server (`vigil export --triton`)."""
