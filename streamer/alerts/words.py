"""Places and probabilities said in words, for people: one home for `vigil explain`'s answer and the
console's alert summary."""

from __future__ import annotations


def where_in_words(box: list[int], size: tuple[int, int]) -> str:
    """A box (x0, y0, x1, y1) on a frame of size (H, W) as 'the top left' ... 'the middle'."""
    h, w = size
    cx, cy = (box[0] + box[2]) / 2 / w, (box[1] + box[3]) / 2 / h
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    column = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    if row == "middle" and column == "centre":
        return "the middle of the picture"
    return f"the {row} {column} of the picture" if row != "middle" else f"the middle {column} of the picture"


def certainty(probability: float) -> str:
    shown = "over 99%" if probability > 0.99 else f"{probability:.0%}"
    percent = f"{shown} by the model's own probability"
    if probability >= 0.9:
        return f"very sure ({percent})"
    if probability >= 0.7:
        return f"fairly sure ({percent})"
    return f"unsure ({percent}): treat this as a weak hint"
