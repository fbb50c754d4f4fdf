"""The fine-tuning explorer of notebook 06: λ, learning rate and steps under your fingers.

The three layers of every widget (see :mod:`fewshot_utils.widgets`):

* :func:`fine_tuning_state` computes everything shown, from the controls' values,
  as a plain ``dict``: it fine-tunes a few hundred seeded episodes (recording every
  step) and compares them with the prototype classifier on the same episodes;
* :func:`fewshot_utils.viz.fine_tuning.fine_tuning_figure` draws a state: query
  accuracy per step against the prototype classifier, and where the predictions go
  (a collapse shows as one tall bar); a notebook calls it once directly so that
  readers on GitHub see a static figure;
* :func:`fine_tuning_explorer` wires ipywidgets controls to "state, then figure".

The controls offer a few values each (the defaults of
:data:`fewshot_utils.fewshot.methods.METHODS` among them): the defaults were chosen on
held-out base classes; the explorer only shows how sensitive the result is.
"""

from __future__ import annotations

import dataclasses

import torch

from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import episode_probabilities, mean_and_ci
from fewshot_utils.fewshot.fine_tuning import FineTuning
from fewshot_utils.fewshot.inspection import predicted_class_shares, record_fine_tuning
from fewshot_utils.fewshot.methods import METHODS
from fewshot_utils.viz.fine_tuning import curve_mean_and_ci, fine_tuning_figure

#: The explorer's starting point: W = M with the query-entropy term (the package's defaults).
BASE_METHOD = "W = M + entropy"

ENTROPY_WEIGHTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
STEPS = (0, 5, 10, 25, 50, 100, 200, 400)
SETTINGS = ((5, 1), (5, 5), (20, 1), (20, 5))


def explorer_config(
    entropy_weight: float | None = None,
    lr: float | None = None,
    steps: int | None = None,
    classifier: str | None = None,
    init: str | None = None,
) -> FineTuning:
    """The config of ``METHODS["W = M + entropy"]`` with the values given (``None``: keep)."""
    changes = {
        "entropy_weight": entropy_weight,
        "lr": lr,
        "steps": steps,
        "classifier": classifier,
        "init": init,
    }
    base = METHODS[BASE_METHOD]
    return dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})


def fine_tuning_state(
    features: torch.Tensor,
    labels: torch.Tensor,
    ways: int = 20,
    shots: int = 1,
    entropy_weight: float | None = None,
    lr: float | None = None,
    steps: int | None = None,
    classifier: str | None = None,
    init: str | None = None,
    episodes: int = 200,
    queries: int = 15,
    seed: int = 0,
) -> dict:
    """Fine-tune ``episodes`` seeded N-way K-shot episodes and compare with the prototypes.

    ``features [I, d]``, ``labels [I]``: the cached features and classes of a split.
    The fine-tuning config is :func:`explorer_config` of the given values. Returns a
    dict with ``config``, ``ways``, ``shots``, ``episodes``;
    ``prototype`` and ``fine_tuned``: ``(accuracy, ci95)`` in %; ``difference``:
    the paired difference fine-tuned minus prototype ``(mean, ci95)`` in points;
    ``accuracy_per_step`` and ``accuracy_per_step_ci`` (``[steps + 1]``, %);
    ``support_loss_per_step`` (``[steps + 1]``, nats); ``shares`` and
    ``prototype_shares``: :func:`~fewshot_utils.fewshot.inspection.predicted_class_shares`
    (``[N]``, %), and ``top_share``, the fine-tuned classifier's first one.
    """
    config = explorer_config(entropy_weight, lr, steps, classifier, init)
    sampled = sample_episodes(labels, ways, shots, queries, episodes, seed=seed)
    history = record_fine_tuning(features, sampled, config, seed=seed)
    predictions = history.predictions
    p_prototype, query_labels = episode_probabilities(features, sampled, "prototype")
    prototype_predictions = p_prototype.argmax(dim=-1)
    tuned = 100.0 * (predictions == query_labels).double().mean(dim=1)
    prototype = 100.0 * (prototype_predictions == query_labels).double().mean(dim=1)
    accuracy, accuracy_ci = curve_mean_and_ci(history.query_accuracy)
    loss, _ = curve_mean_and_ci(history.support_loss)
    shares = predicted_class_shares(predictions, ways)
    return {
        "config": config,
        "ways": ways,
        "shots": shots,
        "episodes": episodes,
        "prototype": mean_and_ci(prototype),
        "fine_tuned": mean_and_ci(tuned),
        "difference": mean_and_ci(tuned - prototype),
        "accuracy_per_step": accuracy,
        "accuracy_per_step_ci": accuracy_ci,
        "support_loss_per_step": loss,
        "shares": shares,
        "prototype_shares": predicted_class_shares(prototype_predictions, ways),
        "top_share": float(shares[0]),
    }


def with_default(options, default) -> tuple:
    """``options`` with the package's default added (sorted), so the explorer starts there."""
    return tuple(sorted(set(options) | {default}))


def fine_tuning_explorer(
    features: torch.Tensor,
    labels: torch.Tensor,
    state: dict | None = None,
    ways: int = 20,
    shots: int = 1,
    episodes: int = 200,
    seed: int = 0,
):
    """Controls for the setting, λ, learning rate, steps, head and start; redraws on release.

    ``features [I, d]``, ``labels [I]``: a split's cached features and classes.
    ``state``: a :func:`fine_tuning_state` to start from (its setting, config and
    number of episodes; it is drawn as it is, not recomputed); without one the
    explorer starts from the package's ``W = M + entropy`` in ``ways``-way
    ``shots``-shot on ``episodes`` episodes. Each change calls
    :func:`fine_tuning_state` then :func:`fine_tuning_figure` (a second or a few
    for 200 episodes; 20-way with λ > 0 takes longest).
    """
    import ipywidgets as widgets
    from IPython.display import display

    if state is not None:
        base, ways, shots = state["config"], state["ways"], state["shots"]
        episodes = state["episodes"]
    else:
        base = explorer_config()
    style = {"description_width": "130px"}  # "entropy weight λ" in full
    layout = widgets.Layout(width="440px")

    def selection(description, options, value, formatter):
        return widgets.SelectionSlider(
            options=[(formatter(option), option) for option in options],
            value=value,
            description=description,
            style=style,
            layout=layout,
            continuous_update=False,
        )

    controls = {
        "setting": widgets.Dropdown(
            options=[
                (f"{w}-way {s}-shot", (w, s)) for w, s in with_default(SETTINGS, (ways, shots))
            ],
            value=(ways, shots),
            description="setting",
            style=style,
        ),
        "entropy_weight": selection(
            "entropy weight λ",
            with_default(ENTROPY_WEIGHTS, base.entropy_weight),
            base.entropy_weight,
            lambda v: f"{v:g}",
        ),
        "lr": selection(
            "learning rate", with_default(LEARNING_RATES, base.lr), base.lr, lambda v: f"{v:g}"
        ),
        "steps": selection("steps", with_default(STEPS, base.steps), base.steps, str),
        "classifier": widgets.ToggleButtons(
            options=["linear", "cosine"],
            value=base.classifier,
            description="head",
            style=style,
        ),
        "init": widgets.ToggleButtons(
            options=[("W = M", "prototypes"), ("random", "random")],
            value=base.init,
            description="start",
            style=style,
        ),
    }
    output = widgets.Output()

    def show(shown: dict) -> None:
        output.clear_output(wait=True)
        with output:
            display(fine_tuning_figure(shown))

    def redraw(_change=None) -> None:
        values = {name: control.value for name, control in controls.items()}
        setting = values.pop("setting")
        show(fine_tuning_state(features, labels, *setting, **values, episodes=episodes, seed=seed))

    for control in controls.values():
        control.observe(redraw, names="value")
    if state is None:
        redraw()
    else:
        show(state)
    panel = widgets.HBox(
        [
            widgets.VBox([controls["setting"], controls["classifier"], controls["init"]]),
            widgets.VBox([controls["entropy_weight"], controls["lr"], controls["steps"]]),
        ]
    )
    return widgets.VBox([panel, output])
