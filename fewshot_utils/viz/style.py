"""One look for every figure of the course: how figures are made, colours, image tiles.

* :func:`new_figure`: every figure function starts here and returns the matplotlib
  ``Figure``; Jupyter shows the figure a cell returns, once; in a script call
  ``fig.savefig(...)``;
* colours: one per method of the course, the same in every notebook
  (:func:`method_colour`; the prototype classifier is always grey; a method run with other
  settings than the package's keeps its colour and is marked as a variant,
  :func:`method_style`), green/red for a right/wrong answer, and a cycle of colours that no
  method uses for series that are not methods (:func:`series_colour`);
* images: :func:`show_image` (one image, grey or colour, no ticks), :func:`mosaic` (many
  small images as one array, much faster than many axes), :func:`frame_tile` and
  :func:`frame_axis` (coloured frames);
* words: :func:`wrap` for long titles; settings are named "N-way K-shot"
  (:func:`fewshot_utils.fewshot.evaluation.setting_name`).
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

#: A right answer (green) and a wrong one (red): frames, bars, verdicts.
RIGHT = "tab:green"
WRONG = "tab:red"
#: The prototype classifier, the reference every method is compared with: always grey.
PROTOTYPE_COLOUR = "0.35"

#: One colour per method of the course, in every figure of every notebook.
METHOD_COLOURS = {
    "prototype": PROTOTYPE_COLOUR,
    "fine-tune (random init)": "tab:orange",
    "fine-tune (W = M)": "tab:blue",
    "W = M + entropy": "tab:purple",
    "W = M + cosine": "tab:cyan",
    "W = M + entropy + cosine": "tab:red",
}
#: For series that are not methods of the course (a sweep's values, two runs, two settings):
#: colours no method uses, so that a colour never names two things in one notebook.
SERIES_COLOURS = ("tab:green", "tab:brown", "tab:pink", "tab:olive", "black")
#: How a bar of a method *variant* (the method with other settings) is marked: hatched.
VARIANT_HATCH = "//"


def method_of(name: str) -> str | None:
    """The method of the course that a label names: the label itself when it is one
    (``"W = M + cosine"``), the method it starts with when it names a variant
    (``"W = M + cosine (s = 30)"``: a space after the method's name), else ``None``."""
    if name in METHOD_COLOURS:
        return name
    for method in sorted(METHOD_COLOURS, key=len, reverse=True):
        if name.startswith(method + " "):
            return method
    return None


def method_colour(name: str, index: int = 0) -> str:
    """The colour of method ``name`` (:data:`METHOD_COLOURS`), else the ``index``-th series
    colour. A name that starts with a method's name (``"W = M + cosine (s = 10)"``) gets it."""
    method = method_of(name)
    return METHOD_COLOURS[method] if method is not None else series_colour(index)


def method_style(name: str, index: int = 0) -> tuple[str, bool]:
    """``(colour, variant)`` for a label: its method's colour (:func:`method_colour`), and
    whether it names a *variant* of the method, the method run with other settings
    (``"W = M + entropy (λ = 1, lr 0.01)"``), which a figure marks (:data:`VARIANT_HATCH`)
    so that it is told apart from the method itself in the same colour."""
    method = method_of(name)
    return method_colour(name, index), method is not None and method != name


def series_colour(index: int) -> str:
    """The ``index``-th colour of :data:`SERIES_COLOURS`, cycling."""
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


def new_figure(**kwargs) -> Figure:
    """An empty figure (``plt.figure(**kwargs)``), closed in pyplot at once.

    Made through pyplot so that Jupyter's inline backend shows it; closed so that it is
    shown once, as the value a figure function returns, and many figures do not pile up
    in pyplot's memory.
    """
    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig


def wrap(title: str, inches: float) -> str:
    """Break a long title (underscores read as spaces) into lines that fit ``inches``."""
    return textwrap.fill(title.replace("_", " "), width=max(6, int(13 * inches)))


def as_array(image) -> np.ndarray:
    """A tensor, PIL image or array as a NumPy array."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    return np.asarray(image)


def show_image(ax, image, title: str | None = None, frame: str | None = None, **title_kw) -> None:
    """Show one image on ``ax`` without ticks: ``uint8`` grey levels on 0..255, float grey
    levels on their own range, colour ``[H, W, 3]`` (or a PIL photo) as it is; ``frame``:
    colour the axes' border (e.g. :data:`RIGHT`)."""
    array = as_array(image)
    if array.ndim == 2:
        limits = {"vmin": 0, "vmax": 255} if array.dtype == np.uint8 else {}
        ax.imshow(array, cmap="gray", interpolation="nearest", **limits)
    else:
        ax.imshow(array)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, **title_kw)
    if frame is not None:
        frame_axis(ax, frame)


def mosaic(images: torch.Tensor, pad: int = 2) -> np.ndarray:
    """Tile ``uint8 [R, C, H, W]`` images into one ``[R·(H+pad)+pad, C·(W+pad)+pad]`` array.

    One ``imshow`` of the mosaic is much faster than ``R·C`` small axes. Tiles
    are separated by ``pad`` pixels of mid grey, so dark backgrounds stay apart.
    """
    images = torch.as_tensor(images)
    if images.dim() != 4:
        raise ValueError(f"mosaic needs images [R, C, H, W], got shape {tuple(images.shape)}")
    rows, cols, height, width = images.shape
    canvas = np.full((rows * (height + pad) + pad, cols * (width + pad) + pad), 110, np.uint8)
    for r in range(rows):
        for c in range(cols):
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            canvas[top : top + height, left : left + width] = images[r, c].cpu().numpy()
    return canvas


def frame_tile(ax, row: int, col: int, size: int, color: str, pad: int = 2, cols: int = 1) -> None:
    """Draw a coloured frame around tiles ``(row, col) .. (row, col + cols - 1)`` of a mosaic."""
    step = size + pad
    ax.add_patch(
        Rectangle(
            (col * step + pad / 2 - 0.5, row * step + pad / 2 - 0.5),
            cols * step,
            step,
            fill=False,
            edgecolor=color,
            linewidth=2.5,
        )
    )


def frame_axis(ax, color: str, width: float = 3.0) -> None:
    """Colour the border of ``ax`` (green: right, red: wrong)."""
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(width)
