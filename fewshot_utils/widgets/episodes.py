"""Notebook 04's episode explorer: one episode, its support set, a query and the prototypes.

The three layers of every widget (see :mod:`fewshot_utils.widgets`): :func:`explore_episode`,
:func:`fewshot_utils.viz.prototypes.episode_explorer_figure`, :func:`episode_explorer`.
"""

from __future__ import annotations

import torch

from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.prototypes import prototype_logits, prototypes
from fewshot_utils.viz.prototypes import episode_explorer_figure


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
    :class:`~fewshot_utils.data.splits.FewShotSplit`). The episode has one query per
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
        "episode_correct": int((predicted == torch.arange(ways, device=predicted.device)).sum()),
    }


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
    :func:`explore_episode` then
    :func:`~fewshot_utils.viz.prototypes.episode_explorer_figure`.
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
        display(episode_explorer_figure(state, split.images))

    output = widgets.interactive_output(draw, controls)
    return widgets.VBox([widgets.HBox(list(controls.values())), output])
