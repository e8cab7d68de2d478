"""What the guard sees: the compositor thread, drawing, the CAM maps on screen, the window."""
