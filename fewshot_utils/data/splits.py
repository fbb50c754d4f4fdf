"""A few-shot dataset split held in memory: images, labels, class and alphabet names.

Every dataset of the course (real Omniglot, and the offline Glyphs) arrives as
two :class:`FewShotSplit` objects:

* ``background``: the *base* classes, used for pretraining;
* ``evaluation``: the *novel* classes, never seen in pretraining, used for
  few-shot episodes.

Shapes (``I`` images, ``C`` classes, ``H x W`` pixels):

* ``images``: ``uint8 [I, H, W]``, strokes bright (255) on a dark (0) background;
* ``labels``: ``int64 [I]``, class index in ``0 .. C-1``;
* ``class_names``: ``C`` strings such as ``"Greek/character03"``;
* ``alphabets``: ``C`` strings, the alphabet (script) of each class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SPLITS = ("background", "evaluation")


@dataclass
class FewShotSplit:
    """One split (``background`` or ``evaluation``) of a few-shot dataset."""

    dataset: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    alphabets: list[str]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 3:
            raise ValueError(
                f"images must be a uint8 tensor [I, H, W], got {self.images.dtype} "
                f"of shape {tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must have shape [{self.images.shape[0]}] (one per image), "
                f"got {tuple(self.labels.shape)}"
            )
        if len(self.class_names) != len(self.alphabets):
            raise ValueError(
                f"{len(self.class_names)} class names but {len(self.alphabets)} alphabets: "
                "give one alphabet per class"
            )
        if len(self.labels) and int(self.labels.max()) >= len(self.class_names):
            raise ValueError(
                f"label {int(self.labels.max())} has no class name "
                f"(only {len(self.class_names)} classes)"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_alphabets(self) -> int:
        return len(set(self.alphabets))

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def alphabet_index(self) -> torch.Tensor:
        """``int64 [C]``: each class's alphabet as a number, ``0 ..`` in order of first use."""
        numbers: dict[str, int] = {}
        return torch.tensor([numbers.setdefault(a, len(numbers)) for a in self.alphabets])

    def images_per_class(self) -> torch.Tensor:
        """``int64 [C]``: how many images each class has."""
        return torch.bincount(self.labels, minlength=self.num_classes)

    def describe(self) -> str:
        """One line: ``<dataset> <split>: <A> alphabets, <C> classes, <I> images`` (without
        the alphabets when each class is its own, as in a folder dataset)."""
        alphabets = (
            "" if self.alphabets == self.class_names else f"{self.num_alphabets} alphabets, "
        )
        return (
            f"{self.dataset} {self.split}: {alphabets}"
            f"{self.num_classes:,} classes, {len(self):,} images"
        )

    def require_images_per_class(self, needed: int, purpose: str) -> None:
        """Raise ``ValueError`` naming the classes with fewer than ``needed`` images, for
        ``purpose`` (e.g. ``"5-shot episodes with 15 queries per class"``), and what to do."""
        counts = self.images_per_class()
        small = [c for c in range(self.num_classes) if int(counts[c]) < needed]
        if not small:
            return
        listed = ", ".join(f"{self.class_names[c]!r} ({int(counts[c])})" for c in small[:5])
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        raise ValueError(
            f"{purpose}: {needed} images per class are needed, but {len(small)} class(es) of "
            f"{self.dataset} {self.split} have fewer: {listed}{more}; add images to those "
            f"classes, remove them, or ask for fewer (the smallest class has "
            f"{int(counts.min())})"
        )

    def subset_classes(self, classes: torch.Tensor | list[int]) -> FewShotSplit:
        """A new split with only the given classes, relabelled ``0 .. len(classes)-1``."""
        classes = torch.as_tensor(classes, dtype=torch.long)
        remap = torch.full((self.num_classes,), -1, dtype=torch.long)
        remap[classes] = torch.arange(len(classes))
        keep = remap[self.labels] >= 0
        return FewShotSplit(
            dataset=self.dataset,
            split=self.split,
            images=self.images[keep],
            labels=remap[self.labels[keep]],
            class_names=[self.class_names[c] for c in classes.tolist()],
            alphabets=[self.alphabets[c] for c in classes.tolist()],
        )

    def state(self) -> dict:
        """Plain tensors and lists, for ``torch.save`` / ``torch.load(weights_only=True)``."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "images": self.images,
            "labels": self.labels,
            "class_names": list(self.class_names),
            "alphabets": list(self.alphabets),
        }

    @classmethod
    def from_state(cls, state: dict) -> FewShotSplit:
        return cls(**state)
