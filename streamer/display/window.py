"""The guard's window: the only module that touches the GUI (Qt through OpenCV's highgui)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys

import cv2
import numpy as np

from streamer.display.drawing import fit


def display_usable() -> bool:
    """Can this process open a window? Asked in a child: with no usable display, Qt aborts the
    whole process (SIGABRT, uncatchable), so the monitor must never find out by trying itself."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    probe = "import cv2; cv2.namedWindow('vigil-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def screen_size() -> tuple[int, int] | None:
    """(width, height) of the X screen, or None where it cannot be asked (Wayland, no libX11).
    OpenCV cannot tell; libX11 is on every machine that runs an X server or XWayland."""
    library = ctypes.util.find_library("X11")
    if library is None or not os.environ.get("DISPLAY"):
        return None
    try:
        x11 = ctypes.CDLL(library)
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XDefaultScreen.argtypes = [ctypes.c_void_p]
        x11.XDisplayWidth.argtypes = x11.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        display = x11.XOpenDisplay(None)
        if not display:
            return None
        try:
            screen = x11.XDefaultScreen(display)
            return int(x11.XDisplayWidth(display, screen)), int(x11.XDisplayHeight(display, screen))
        finally:
            x11.XCloseDisplay(display)
    except (OSError, AttributeError):
        return None


# Share of the screen a window takes: room for a window manager's title bar and a task bar.
SCREEN_SHARE = 0.9
DEFAULT_SCREEN = (1280, 720)


def window_canvas() -> tuple[int, int]:
    """The largest picture (w, h) the window shows unscaled: several cameras are drawn at this size,
    so their panels are drawn at the size they are seen."""
    width, height = screen_size() or DEFAULT_SCREEN
    return int(width * SCREEN_SHARE), int(height * SCREEN_SHARE)


class Window:
    """The guard's window, sized to the screen with the picture's aspect and no toolbar; call only
    from the main thread (Qt's GUI lives on one thread)."""

    KEYS = {
        ord("h"): "heatmap",
        ord("c"): "contours",
        ord("p"): "pause",
        ord("s"): "snapshot",
        ord("f"): "fullscreen",
        ord("q"): "quit",
        27: "quit",
    }

    def __init__(self, title: str, fullscreen: bool = False):
        self.title = title
        self.sized = False
        self.fullscreen = False
        # GUI_NORMAL: no Qt toolbar or status bar, which took a quarter of a small window.
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        if fullscreen:
            self.set_fullscreen(True)

    def show(self, image: np.ndarray) -> None:
        if not self.sized:  # the first picture sets the window's size: fits the screen, its aspect
            h, w = image.shape[:2]
            cv2.resizeWindow(self.title, *fit((w, h), window_canvas()))
            self.sized = True
        cv2.imshow(self.title, image)

    def poll(self, wait_ms: int = 10) -> str | None:
        """The key pressed, if any. Called on every pass of the main loop, picture or not, so keys
        work while the picture is paused or a camera is silent."""
        return self.KEYS.get(cv2.waitKey(wait_ms) & 0xFF)

    def set_fullscreen(self, on: bool) -> None:
        self.fullscreen = on
        cv2.setWindowProperty(
            self.title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN if on else cv2.WINDOW_NORMAL
        )

    def close(self) -> None:
        cv2.destroyAllWindows()
        cv2.waitKey(1)
