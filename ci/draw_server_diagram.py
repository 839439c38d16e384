#!/usr/bin/env python3
"""Draw notebooks/images/server_per_executor.png: a model server beside each Spark executor.

The Triton and LLM-server sections of the notebooks show it. Regenerate with
``.envs/torch/bin/python ci/draw_server_diagram.py``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "notebooks" / "images" / "server_per_executor.png"


def box(ax, x, y, w, h, title, lines, face, edge, dashed=False):
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.12",
            facecolor=face,
            edgecolor=edge,
            linewidth=1.3,
            linestyle="--" if dashed else "-",
        )
    )
    ax.text(x + w / 2, y + h - 0.22, title, ha="center", va="top", fontweight="bold", fontsize=10)
    for i, line in enumerate(lines):
        ax.text(x + w / 2, y + h - 0.62 - 0.3 * i, line, ha="center", va="top", fontsize=8.5)


def arrow(ax, a, b, both=False, label=None):
    ax.annotate(
        "",
        xy=b,
        xytext=a,
        arrowprops={"arrowstyle": "<->" if both else "->", "color": "#444", "lw": 1.3},
    )
    if label:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 - 0.2, label, ha="center", fontsize=7.5)


def main() -> None:
    fig, ax = plt.subplots(figsize=(9, 5.2))
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 7)
    ax.axis("off")
    box(
        ax,
        4.0,
        5.9,
        4.0,
        0.95,
        "Driver",
        ["starts one server per executor, stops them all"],
        "#e8eef7",
        "#3b6ea5",
    )
    for i, x0 in enumerate((0.2, 6.2)):
        box(ax, x0, 1.75, 5.6, 3.7, "", [], "#f6f6f6", "#888", dashed=True)
        ax.text(x0 + 0.2, 5.3, f"node-{i + 1}", fontweight="bold", fontsize=10, va="top")
        executor = [
            "Spark tasks run",
            "predict_batch_udf,",
            "which sends each",
            "batch to the server",
        ]
        box(ax, x0 + 0.2, 2.0, 2.3, 2.9, "Executor", executor, "#eaf5ea", "#3d8b3d")
        server = [
            "Triton, or an",
            "LLM server:",
            "the model, loaded",
            "once per executor;",
            "stops when its",
            "executor dies",
        ]
        box(ax, x0 + 3.3, 2.0, 2.1, 2.9, "Model server", server, "#fdf1e3", "#c77a1e")
        arrow(ax, (x0 + 2.55, 3.3), (x0 + 3.25, 3.3), both=True)
        ax.text(x0 + 2.9, 3.45, "loopback", ha="center", fontsize=7.5)
        arrow(ax, (6.0, 5.88), (x0 + 2.8, 5.47))
        arrow(ax, (x0 + 2.8, 1.72), (6.0 + (x0 - 3.2) * 0.35, 1.27), both=True)
    box(
        ax,
        1.8,
        0.15,
        8.4,
        1.1,
        "Shared storage (object store, DBFS, NFS)",
        ["the model's files, the input table, the predictions"],
        "#eeeeee",
        "#666",
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110, bbox_inches="tight", facecolor="white")
    print(OUT)


if __name__ == "__main__":
    main()
