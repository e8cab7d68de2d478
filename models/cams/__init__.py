"""The CAM definitions a bundle can carry, each with its formula, and the head they explain."""
