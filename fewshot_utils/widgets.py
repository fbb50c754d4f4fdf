"""Interactive widgets of notebooks 03 and 04, built on plain functions that can be tested.

Each widget is three layers, so that what it shows is tested even though its
callbacks never run in a test or on GitHub:

* a **state** function computes everything shown, from the sliders' values, as a
  plain ``dict`` (:func:`cosine_demo_state`, :func:`explore_episode`);
* a **figure** function draws a state (:func:`cosine_demo_figure`,
  :func:`episode_figure`); a notebook also calls it once directly, so readers
  who cannot run the widget still see a static figure;
* the **widget** (:func:`cosine_demo`, :func:`episode_explorer`) only wires
  ipywidgets sliders to "state, then figure".
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from fewshot_utils.cosine_similarity import cosine_similarity, l2_normalize
from fewshot_utils.episodes import sample_episodes
from fewshot_utils.inspection import RIGHT, WRONG, frame_axis, frame_tile, mosaic, show_image
from fewshot_utils.prototypes import prototype_logits, prototypes

#: Directions (degrees) of the cosine demo's three prototypes m_1, m_2, m_3 (unit vectors).
PROTOTYPE_ANGLES = (0.0, 120.0, 240.0)

# ----------------------------------------------------------------------------
# Notebook 03: two 2-D vectors, their cosine, and a softmax over prototypes
# ----------------------------------------------------------------------------


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


def cosine_demo_figure(state: dict) -> Figure:
    """Left: ``a``, ``b`` and the prototypes as arrows; right: the two softmaxes for query ``a``."""
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.1])

    reach = 1.15 * max(3.0, state["norm_a"], state["norm_b"])
    circle = np.linspace(0, 2 * np.pi, 200)
    left.plot(np.cos(circle), np.sin(circle), ":", color="grey", linewidth=1)
    for n, m in enumerate(state["prototypes"].tolist(), start=1):
        left.annotate("", xy=m, xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "grey"})
        left.text(1.3 * m[0], 1.3 * m[1], f"$m_{n}$", color="grey", ha="center", va="center")
    for name, color in (("a", "tab:blue"), ("b", "tab:orange")):
        tip = state[name].tolist()
        left.annotate(
            "", xy=tip, xytext=(0, 0), arrowprops={"arrowstyle": "-|>", "color": color, "lw": 2}
        )
        left.text(1.08 * tip[0], 1.08 * tip[1], f"${name}$", color=color, fontsize=14)
    left.set_xlim(-reach, reach)
    left.set_ylim(-reach, reach)
    left.set_aspect("equal")
    left.axhline(0, color="lightgrey", linewidth=0.8, zorder=0)
    left.axvline(0, color="lightgrey", linewidth=0.8, zorder=0)
    left.set_title(
        f"|a| = {state['norm_a']:.2f}, |b| = {state['norm_b']:.2f}, "
        f"angle = {state['angle']:.0f}°\n"
        f"a·b = {state['inner_product']:.2f},   cos(a, b) = {state['cosine']:.3f}",
        fontsize=10,
    )

    count = len(state["prototypes"])
    positions = np.arange(count)
    width = 0.38
    for offset, key, label, color in (
        (-width / 2, "p_cosine", f"softmax({state['scale']:g} · cos(a, $m_n$))", "tab:blue"),
        (width / 2, "p_inner", "softmax(a·$m_n$)  (raw inner product)", "tab:purple"),
    ):
        values = state[key].numpy()
        bars = right.bar(positions + offset, values, width, label=label, color=color)
        right.bar_label(bars, fmt="%.2f", fontsize=8)
    right.set_xticks(positions, [f"$m_{n}$" for n in range(1, count + 1)])
    right.set_ylim(0, 1.4)  # room above the bars for the legend
    right.set_yticks(np.linspace(0, 1, 6))
    right.set_ylabel("probability")
    right.set_title("a as a query: probabilities over the prototypes", fontsize=10)
    right.legend(fontsize=8, loc="upper center")
    return fig


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


# ----------------------------------------------------------------------------
# Notebook 04: one episode, its support set, a query and the prototype classifier
# ----------------------------------------------------------------------------


def explore_episode(
    features: torch.Tensor,
    split,
    ways: int = 5,
    shots: int = 1,
    seed: int = 0,
    query: int = 0,
    scale: float = 1.0,
) -> dict:
    """One seeded N-way K-shot episode classified by the prototype classifier.

    ``features [I, d]``: the cached features of ``split`` (a
    :class:`~fewshot_utils.splits.FewShotSplit`). The episode has one query per
    class; ``query`` (``0 .. ways-1``) picks the one shown, the query of class
    ``query``. Returns a dict with ``ways``, ``shots``, ``seed``, ``support``
    (``int64 [N, K]`` image indices), ``class_names`` (``N``), ``query_image``
    (its image index), ``true`` (``= query``), ``cosines`` ``cos(m_n, q)`` and
    ``probabilities`` ``softmax(s · M q̂)`` (``[N]``), ``predicted``, ``correct``,
    and ``episode_correct``: how many of the episode's ``N`` queries are right.
    """
    if not 0 <= query < ways:
        raise ValueError(f"query picks one class's query: 0 .. {ways - 1}, got {query}")
    episode = sample_episodes(split.labels, ways, shots, queries=1, episodes=1, seed=seed)
    support = episode.support[0]  # [N, K]
    queries = episode.query[0, :, 0]  # [N]: the query of class n
    M = prototypes(features[support])  # [N, d]
    cosines = prototype_logits(M, features[queries])  # [N queries, N classes]
    probabilities = (scale * cosines).softmax(dim=-1)
    predicted = cosines.argmax(dim=-1)
    return {
        "ways": ways,
        "shots": shots,
        "seed": seed,
        "scale": scale,
        "support": support,
        "classes": episode.classes[0],
        "class_names": [split.class_names[c] for c in episode.classes[0].tolist()],
        "query_image": int(queries[query]),
        "true": query,
        "cosines": cosines[query],
        "probabilities": probabilities[query],
        "predicted": int(predicted[query]),
        "correct": bool(predicted[query] == query),
        "episode_correct": int((predicted == torch.arange(ways)).sum()),
    }


def episode_figure(state: dict, images: torch.Tensor) -> Figure:
    """The query, the support set (one class a row) and the query's probability for each class.

    ``state`` from :func:`explore_episode`; ``images uint8 [I, H, W]`` of the same
    split. The true class's row is framed green; the predicted class's red when wrong.
    """
    ways, shots = state["ways"], state["shots"]
    size, pad = images.shape[-1], 2
    row_inches = 0.42
    fig = Figure(
        figsize=(1.9 + row_inches * shots + 3.4, max(2.6, row_inches * ways + 1.0)),
        layout="constrained",
    )
    grid = fig.add_gridspec(1, 3, width_ratios=[1.9, row_inches * shots + 0.5, 3.4])

    ax = fig.add_subplot(grid[0])
    color = RIGHT if state["correct"] else WRONG
    verdict = "right" if state["correct"] else "wrong"
    show_image(ax, images[state["query_image"]])
    ax.set_title(
        f"query (class {state['true']})\npredicted class {state['predicted']}: {verdict}",
        color=color,
        fontsize=9,
    )
    frame_axis(ax, color)

    ax = fig.add_subplot(grid[1])
    ax.imshow(
        mosaic(images[state["support"]], pad),
        cmap="gray",
        vmin=0,
        vmax=255,
        aspect="auto",
        interpolation="nearest",
    )
    centres = [pad + n * (size + pad) + size / 2 for n in range(ways)]
    ax.set_xticks([])
    ax.set_yticks(centres, [f"class {n}" for n in range(ways)], fontsize=8)
    frame_tile(ax, state["true"], 0, size, RIGHT, pad, cols=shots)
    if not state["correct"]:
        frame_tile(ax, state["predicted"], 0, size, WRONG, pad, cols=shots)
    ax.set_title(f"support set\n{ways}-way {shots}-shot, seed {state['seed']}", fontsize=9)
    bottom, top = ax.get_ylim()

    ax = fig.add_subplot(grid[2])
    colours = ["lightgrey"] * ways
    colours[state["true"]] = RIGHT
    if not state["correct"]:
        colours[state["predicted"]] = WRONG
    probabilities = state["probabilities"].numpy()
    bars = ax.barh(centres, probabilities, height=0.7 * size, color=colours)
    labels = [
        f"{p:.2f} (cos {c:.2f})"
        for p, c in zip(probabilities, state["cosines"].tolist(), strict=True)
    ]
    ax.bar_label(bars, labels, fontsize=7, padding=2)
    ax.set_ylim(bottom, top)
    ax.set_yticks([])
    ax.set_xlim(0, min(1.0, 1.6 * float(probabilities.max()) + 0.05))
    ax.set_xlabel(f"p = softmax({state['scale']:g} · M q̂)", fontsize=9)
    ax.set_title(
        f"the query's probabilities\n{state['episode_correct']}/{ways} of this episode's "
        "queries right",
        fontsize=9,
    )
    return fig


def episode_explorer(
    features: torch.Tensor,
    split,
    ways: int = 5,
    shots: int = 1,
    seed: int = 0,
    max_ways: int = 20,
    max_shots: int = 10,
):
    """Sliders for ways, shots, the episode's seed and which query; redraws the episode.

    ``features [I, d]``: the cached features of ``split``. Each change calls
    :func:`explore_episode` then :func:`episode_figure`.
    """
    import ipywidgets as widgets
    from IPython.display import display

    max_ways = min(max_ways, split.num_classes)
    max_shots = min(max_shots, int(split.images_per_class().min()) - 1)
    style = {"description_width": "60px"}
    controls = {
        "ways": widgets.IntSlider(ways, min=2, max=max_ways, description="ways N", style=style),
        "shots": widgets.IntSlider(shots, min=1, max=max_shots, description="shots K", style=style),
        "seed": widgets.IntSlider(seed, min=0, max=999, description="seed", style=style),
        "query": widgets.IntSlider(0, min=0, max=ways - 1, description="query", style=style),
    }
    for control in controls.values():
        control.continuous_update = False

    def fit_query_to_ways(change):
        controls["query"].max = change["new"] - 1

    # Registered before interactive_output, so the query slider fits the ways first.
    controls["ways"].observe(fit_query_to_ways, names="value")

    def draw(ways, shots, seed, query):
        state = explore_episode(features, split, ways, shots, seed, min(query, ways - 1))
        display(episode_figure(state, split.images))

    output = widgets.interactive_output(draw, controls)
    return widgets.VBox([widgets.HBox(list(controls.values())), output])
