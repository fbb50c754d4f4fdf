"""Notebook 03's cosine demo: two 2-D vectors, their cosine, and a softmax over prototypes.

The three layers of every widget (see :mod:`fewshot_utils.widgets`): :func:`cosine_demo_state`,
:func:`fewshot_utils.viz.similarity.cosine_demo_figure`, :func:`cosine_demo`.
"""

from __future__ import annotations

import math

import torch

from fewshot_utils.fewshot.cosine_similarity import cosine_similarity, l2_normalize
from fewshot_utils.viz.similarity import cosine_demo_figure

#: Directions (degrees) of the cosine demo's three prototypes m_0, m_1, m_2 (unit vectors).
PROTOTYPE_ANGLES = (0.0, 120.0, 240.0)


def vector(angle: float, length: float) -> torch.Tensor:
    """The 2-D vector of a direction (degrees, counter-clockwise from the x-axis) and length."""
    radians = math.radians(angle)
    return torch.tensor([length * math.cos(radians), length * math.sin(radians)])


def cosine_demo_state(
    angle_a: float = 30.0,
    length_a: float = 1.5,
    angle_b: float = 75.0,
    length_b: float = 2.5,
    scale: float = 1.0,
    prototype_angles: tuple[float, ...] = PROTOTYPE_ANGLES,
) -> dict:
    """Everything the cosine demo shows, for vectors ``a`` and ``b`` given by angle and length.

    Returns a dict with

    * ``a``, ``b`` (``[2]``), ``norm_a``, ``norm_b``, ``inner_product`` ``a·b``,
      ``cosine`` ``a·b / (|a||b|)`` and ``angle`` between them in degrees (0-180);
    * ``prototypes`` ``M [P, 2]``: unit vectors at ``prototype_angles``;
    * for ``a`` as a query: ``cosine_to_prototypes`` ``M â`` and ``inner_to_prototypes``
      ``M a`` (``[P]``), and the two softmaxes ``p_cosine = softmax(s · M â)`` and
      ``p_inner = softmax(M a)``. Lengthening ``a`` sharpens ``p_inner`` but leaves
      ``p_cosine`` unchanged: only the direction of ``a`` matters to the cosine.
    """
    a, b = vector(angle_a, length_a), vector(angle_b, length_b)
    M = torch.stack([vector(angle, 1.0) for angle in prototype_angles])
    cosine = float(cosine_similarity(a, b))
    to_prototypes = M @ l2_normalize(a)
    inner = M @ a
    return {
        "a": a,
        "b": b,
        "norm_a": float(a.norm()),
        "norm_b": float(b.norm()),
        "inner_product": float(a @ b),
        "cosine": cosine,
        "angle": math.degrees(math.acos(max(-1.0, min(1.0, cosine)))),
        "prototypes": M,
        "scale": scale,
        "cosine_to_prototypes": to_prototypes,
        "inner_to_prototypes": inner,
        "p_cosine": (scale * to_prototypes).softmax(dim=0),
        "p_inner": inner.softmax(dim=0),
    }


def cosine_demo():
    """Sliders for the angle and length of ``a`` and ``b`` and the scale ``s``; redraws live.

    Each change calls :func:`cosine_demo_state` then :func:`cosine_demo_figure`.
    """
    import ipywidgets as widgets
    from IPython.display import display

    defaults = cosine_demo_state()
    style = {"description_width": "80px"}

    def slider(description, value, low, high, step):
        return widgets.FloatSlider(
            value=value,
            min=low,
            max=high,
            step=step,
            description=description,
            style=style,
            continuous_update=False,
        )

    controls = {
        "angle_a": slider("angle of a", 30.0, 0.0, 360.0, 5.0),
        "length_a": slider("length |a|", round(defaults["norm_a"], 1), 0.1, 3.0, 0.1),
        "angle_b": slider("angle of b", 75.0, 0.0, 360.0, 5.0),
        "length_b": slider("length |b|", round(defaults["norm_b"], 1), 0.1, 3.0, 0.1),
        "scale": slider("scale s", 1.0, 1.0, 20.0, 1.0),
    }

    def draw(**values):
        display(cosine_demo_figure(cosine_demo_state(**values)))

    output = widgets.interactive_output(draw, controls)
    sliders = widgets.HBox(
        [
            widgets.VBox([controls["angle_a"], controls["length_a"], controls["scale"]]),
            widgets.VBox([controls["angle_b"], controls["length_b"]]),
        ]
    )
    return widgets.VBox([sliders, output])
