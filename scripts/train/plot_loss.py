#!/usr/bin/env python3
"""Plot distillation loss curves from train_log.jsonl files as one SVG.

Usage: plot_loss.py OUT.svg LABEL=path/to/train_log.jsonl [LABEL=...]
(the last "=" of each argument separates the label from the path)

Each run is drawn as its total loss per optimizer step, normalised by the
run's first-step loss so runs of different models share one axis. Only the
Python standard library is used, so the script runs anywhere.
"""

import json
import sys

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 200, 30, 50
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def read_losses(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["loss"] for line in f if line.strip()]


def polyline(losses, max_steps, y_max, colour):
    first = losses[0]
    points = []
    for i, loss in enumerate(losses):
        x = LEFT + (WIDTH - LEFT - RIGHT) * (i / max(1, max_steps - 1))
        y = TOP + (HEIGHT - TOP - BOTTOM) * (1 - min(loss / first, y_max) / y_max)
        points.append(f"{x:.1f},{y:.1f}")
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(points)}"/>'


def main():
    if len(sys.argv) < 3 or any("=" not in arg for arg in sys.argv[2:]):
        sys.exit(__doc__)
    runs = [(arg.rsplit("=", 1)[0], read_losses(arg.rsplit("=", 1)[1])) for arg in sys.argv[2:]]
    runs = [(label, losses) for label, losses in runs if losses]
    if not runs:
        sys.exit("no steps in the given logs")
    max_steps = max(len(losses) for _, losses in runs)
    y_max = 1.1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>']
    plot_bottom, plot_right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts.append(f'<line x1="{LEFT}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}" stroke="black"/>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{plot_bottom}" stroke="black"/>')
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = TOP + (plot_bottom - TOP) * (1 - tick / y_max)
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{tick:.2f}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{plot_right}" y2="{y:.1f}" stroke="#ddd"/>')
    parts.append(f'<text x="{(LEFT + plot_right) / 2}" y="{HEIGHT - 12}" text-anchor="middle">optimizer step (1 to {max_steps})</text>')
    parts.append(f'<text x="16" y="{(TOP + plot_bottom) / 2}" transform="rotate(-90 16 {(TOP + plot_bottom) / 2})" '
                 'text-anchor="middle">loss / first-step loss</text>')
    for index, (label, losses) in enumerate(runs):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(polyline(losses, max_steps, y_max, colour))
        y = TOP + 18 * index + 10
        parts.append(f'<line x1="{plot_right + 12}" y1="{y}" x2="{plot_right + 32}" y2="{y}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{plot_right + 38}" y="{y + 4}">{label}</text>')
    parts.append("</svg>")
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
