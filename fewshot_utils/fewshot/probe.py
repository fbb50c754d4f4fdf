"""A few-shot probe: how good are the features for *novel* classes, measured during pretraining.

Validation accuracy on held-out drawings of the base classes says how well the
network classifies the classes it is trained on. What few-shot learning needs
is different: features that separate classes the network has never seen. The
probe measures that directly, cheaply enough to run after every epoch:

1. pick ``classes`` novel classes of the evaluation split (seeded) and keep
   their images (e.g. 100 classes x 20 drawings = 2,000 images);
2. sample ``episodes`` seeded N-way K-shot episodes from them, once;
3. after each epoch, embed those images with the current backbone f(x) and
   classify every episode's queries with the prototype classifier
   (nearest normalised class mean, :mod:`fewshot_utils.fewshot.prototypes`).

The same episodes are used after every epoch, so the curve moves only because
the features change. The probe is a *measurement*: choose epochs and other
hyper-parameters on the base classes' validation split, never on these novel
classes (they stand in for the test set).

Use it as ``after_epoch`` of :func:`fewshot_utils.training.supervised.pretrain` (or of
:func:`fewshot_utils.training.siamese.pretrain_siamese`)::

    probe = FewShotProbe(dataset.evaluation, preprocessing_for(dataset.background, config))
    result = pretrain(dataset.background, config, after_epoch=probe)
    result.history[-1]["fewshot_5way_1shot"]   # prototype accuracy in %, after the last epoch
"""

from __future__ import annotations

import torch
from torch import nn

from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.fewshot.episodes import sample_episodes
from fewshot_utils.fewshot.evaluation import evaluate
from fewshot_utils.models.conv4 import Preprocessing, embed, fit_preprocessing
from fewshot_utils.training.loop import TrainingRecipe, train_validation_split

#: Images per forward pass when the probe embeds: small enough to keep Conv4's activations
#: small, large enough to be as fast as larger batches (the README's memory notes).
EMBED_BATCH_SIZE = 256


def probe_key(ways: int, shots: int) -> str:
    """The history key of a probe's accuracy, e.g. ``"fewshot_5way_1shot"``."""
    return f"fewshot_{ways}way_{shots}shot"


def preprocessing_for(split: FewShotSplit, config: TrainingRecipe | None = None) -> Preprocessing:
    """The :class:`Preprocessing` that pretraining on ``split`` with ``config`` will use.

    Pretraining normalises inputs with the mean and standard deviation of its
    training pixels (the split minus the held-out validation drawings, rounded
    to 4 decimals); a probe run during pretraining needs the same numbers, and
    they are fixed before the first step, so they can be computed in advance.
    (:func:`fewshot_utils.models.conv4.fit_preprocessing`, the rule both pretrainings use.)
    """
    config = config or TrainingRecipe()
    train_index, _ = train_validation_split(split.labels, config.validation_per_class, config.seed)
    return fit_preprocessing(split.images[train_index])


class FewShotProbe:
    """Prototype accuracy of N-way K-shot episodes on a fixed subset of novel classes.

    ``split``: the novel classes (the evaluation split); ``preprocessing``: how
    the backbone being trained sees images (:func:`preprocessing_for`);
    ``classes``: how many of the split's classes to keep (``None``: all);
    ``episodes``, ``ways``, ``shots``, ``queries``, ``seed``: the episodes.

    Calling the probe with a model returns
    ``{"fewshot_<N>way_<K>shot": accuracy %, "fewshot_<N>way_<K>shot_ci95": 95% CI}``,
    the signature ``after_epoch(model, row) -> dict`` that pretraining expects.
    ``model`` is f(x) itself or anything with a ``.backbone`` (the pretraining
    model with its head, the Siamese model with its pair head).
    """

    def __init__(
        self,
        split: FewShotSplit,
        preprocessing: Preprocessing,
        ways: int = 5,
        shots: int = 1,
        queries: int = 15,
        episodes: int = 300,
        classes: int | None = 100,
        seed: int = 0,
    ) -> None:
        if classes is not None and classes < split.num_classes:
            if classes < ways:
                raise ValueError(f"a {ways}-way probe needs at least {ways} classes, got {classes}")
            generator = torch.Generator().manual_seed(seed)
            chosen = torch.randperm(split.num_classes, generator=generator)[:classes]
            split = split.subset_classes(chosen.sort().values)
        self.images = split.images
        self.labels = split.labels
        self.preprocessing = preprocessing
        self.ways, self.shots = ways, shots
        self.episodes = sample_episodes(split.labels, ways, shots, queries, episodes, seed)
        self.key = probe_key(ways, shots)

    def __repr__(self) -> str:
        return (
            f"FewShotProbe({self.ways}-way {self.shots}-shot, {self.episodes.num_episodes} "
            f"episodes over {len(self.images)} images of {int(self.labels.max()) + 1} classes)"
        )

    def features(self, model: nn.Module) -> torch.Tensor:
        """f(x) of the probe's images: ``float [I, d]`` (the model is left in its mode)."""
        backbone = getattr(model, "backbone", model)
        return embed(backbone, self.images, self.preprocessing, batch_size=EMBED_BATCH_SIZE)

    def __call__(self, model: nn.Module, row: dict | None = None) -> dict:
        """``{key: accuracy %, key_ci95: CI}`` of the prototype classifier on the episodes."""
        result = evaluate(self.features(model), self.episodes, "prototype")
        return {self.key: result.accuracy, f"{self.key}_ci95": result.ci95}
