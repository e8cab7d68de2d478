"""An event's class probabilities over time as an inline SVG: a line per class, the alert's
threshold dashed, the moment of the alert marked. Drawn on the server: no script on the page."""

from __future__ import annotations

from html import escape

# One colour per class line, the alert's own class drawn thick.
COLOURS = ("#888888", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b")
WIDTH, HEIGHT, MARGIN, LEGEND = 720, 200, 36, 80


def trace_svg(trace: dict, alert_class: str, threshold: float | None = None) -> str:
    """trace: {"classes": [...], "points": [[seconds from the alert, p0, p1, ...], ...]}."""
    points = trace.get("points") or []
    classes = trace.get("classes") or []
    if len(points) < 2 or not classes:
        return ""
    t0, t1 = points[0][0], max(points[-1][0], points[0][0] + 1e-3)
    x = lambda t: MARGIN + (t - t0) / (t1 - t0) * (right - MARGIN)  # noqa: E731
    y = lambda p: HEIGHT - MARGIN + (-p) * (HEIGHT - 2 * MARGIN)  # noqa: E731
    right = WIDTH - MARGIN - LEGEND  # the plot's right edge; the legend lies beyond it
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" role="img" '
        f'aria-label="class probabilities over the event">',
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{right - MARGIN}" height="{HEIGHT - 2 * MARGIN}" '
        'fill="#fafafa" stroke="#ccc"/>',
    ]
    for p in (0.0, 0.5, 1.0):
        parts.append(f'<text x="4" y="{y(p) + 4:.1f}" font-size="11">{p:.1f}</text>')
    if threshold is not None:
        parts.append(
            f'<line x1="{MARGIN}" x2="{right}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" '
            'stroke="#000" stroke-dasharray="4 3"/>'
        )
    if t0 <= 0 <= t1:
        parts.append(
            f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="#000"/>'
            f'<text x="{x(0) + 3:.1f}" y="{MARGIN - 4}" font-size="11">alert</text>'
        )
    for i, name in enumerate(classes):
        line = " ".join(f"{x(p[0]):.1f},{y(p[i + 1]):.1f}" for p in points)
        width = 3 if name == alert_class else 1.5
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{line}"/>')
        parts.append(
            f'<text x="{right + 6}" y="{MARGIN + 14 * i + 10}" font-size="11" fill="{colour}">'
            f"{escape(name)}</text>"
        )
    parts.append(
        f'<text x="{MARGIN}" y="{HEIGHT - 8}" font-size="11">{t0:+.0f} s</text>'
        f'<text x="{right - 30}" y="{HEIGHT - 8}" font-size="11">{t1:+.0f} s</text></svg>'
    )
    return "".join(parts)
