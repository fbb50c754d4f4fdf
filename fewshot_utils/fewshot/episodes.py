"""N-way K-shot episodes: the unit of few-shot evaluation.

An *episode* picks ``N`` novel classes (the ways), ``K`` labelled images of each
(the *support set*, shots) and ``Q`` further images of each to classify (the
*queries*). Inside an episode the classes are relabelled ``0 .. N-1`` by their
position, so the label of ``support[e, n, k]`` and of ``query[e, n, q]`` is ``n``.

The sampler returns *index tensors* into a split's images (or cached features),
so thousands of episodes can be gathered and evaluated as one batch:

* ``support``: ``int64 [E, N, K]``
* ``query``: ``int64 [E, N, Q]``
* ``classes``: ``int64 [E, N]``, the split's class index of each way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fewshot_utils.validation import check


@dataclass(frozen=True)
class Episodes:
    """A batch of ``E`` episodes as index tensors (see the module docstring)."""

    support: torch.Tensor
    query: torch.Tensor
    classes: torch.Tensor

    @property
    def num_episodes(self) -> int:
        return int(self.support.shape[0])

    @property
    def ways(self) -> int:
        return int(self.support.shape[1])

    @property
    def shots(self) -> int:
        return int(self.support.shape[2])

    @property
    def queries(self) -> int:
        return int(self.query.shape[2])

    def __len__(self) -> int:
        return self.num_episodes

    def __getitem__(self, index) -> Episodes:
        """Episodes ``index`` (an int keeps a batch dimension of 1)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Episodes(self.support[index], self.query[index], self.classes[index])

    def support_labels(self) -> torch.Tensor:
        """``int64 [E, N, K]``: the episode label ``n`` of every support image."""
        return _position_labels(self.support)

    def query_labels(self) -> torch.Tensor:
        """``int64 [E, N, Q]``: the episode label ``n`` of every query."""
        return _position_labels(self.query)


def _position_labels(index: torch.Tensor) -> torch.Tensor:
    num_episodes, ways, per_class = index.shape
    return torch.arange(ways).view(1, ways, 1).expand(num_episodes, ways, per_class)


def check_episodes(
    labels: torch.Tensor, ways: int, shots: int, queries: int = 15, episodes: int = 1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check that a split with ``labels`` (``int64 [I]``) can give ``episodes`` N-way K-shot
    episodes with ``queries`` queries per class, before any work starts.

    Returns ``(labels int64 [I], counts [C] images per class, eligible)``, the classes with
    at least ``shots + queries`` images. Raises ``ValueError`` naming the numbers: a
    number that is not a whole number in range (:data:`fewshot_utils.validation.RULES`),
    more ways than classes, or ``shots + queries`` more than the classes' images.
    """
    ways, shots = check("ways", ways), check("shots", shots)
    queries, episodes = check("queries", queries), check("episodes", episodes)
    if not torch.is_tensor(labels):
        labels = torch.as_tensor(labels)
    if labels.dim() != 1 or not len(labels) or labels.is_floating_point() or labels.min() < 0:
        raise ValueError(
            f"labels must be the class numbers 0, 1, ... of a split's images, one whole number "
            f"per image ([I]), got {labels.dtype} of shape {tuple(labels.shape)}: pass split.labels"
        )
    labels = labels.long().cpu()
    counts = torch.bincount(labels)
    present = torch.nonzero(counts).flatten()
    if ways > len(present):
        raise ValueError(
            f"{ways}-way episodes need {ways} classes, but the split has only "
            f"{len(present)}: ask for at most {len(present)} ways"
        )
    per_class = shots + queries
    eligible = present[counts[present] >= per_class]
    if ways > len(eligible):
        smallest = int(counts[present].min())
        raise ValueError(
            f"{shots}-shot + {queries} queries needs {per_class} images per class, "
            f"but only {len(eligible)} classes have that many (the smallest has "
            f"{smallest}); ask for shots + queries <= {smallest} or fewer ways"
        )
    return labels, counts, eligible


def sample_episodes(
    labels: torch.Tensor,
    ways: int,
    shots: int,
    queries: int = 15,
    episodes: int = 1000,
    seed: int = 0,
    groups: torch.Tensor | None = None,
) -> Episodes:
    """Sample ``episodes`` seeded N-way K-shot episodes with ``queries`` queries per class.

    ``labels``: ``int64 [I]``, the class of each image of a split. Each episode
    draws ``ways`` distinct classes, then ``shots + queries`` distinct images of
    each class (support first, queries after). The same ``seed`` always gives
    the same episodes, whatever else has used the random generator.

    ``groups`` (``int64 [C]``, one group per class, e.g. its alphabet:
    :meth:`~fewshot_utils.data.splits.FewShotSplit.alphabet_index`): all the classes of
    an episode come from one group, drawn uniformly for each episode among the groups
    that have ``ways`` classes with enough images. With 20 ways and 1 shot this is Lake
    et al.'s (2015) one-shot task: tell apart 20 characters of the same alphabet.

    Raises ``ValueError`` naming the numbers when they are out of range or the split
    cannot provide them (:func:`check_episodes`).

    The index tensors are made and kept on the CPU, whatever device the features are on
    (so a seed gives the same episodes everywhere);
    :func:`~fewshot_utils.fewshot.evaluation.episode_features` moves them.
    """
    labels, counts, eligible = check_episodes(labels, ways, shots, queries, episodes)
    ways, shots, queries = int(ways), int(shots), int(queries)
    episodes, seed = int(episodes), check("seed", seed)
    per_class = shots + queries

    generator = torch.Generator().manual_seed(seed)
    # Images of each class, grouped: order[start[c] : start[c] + counts[c]].
    order = torch.argsort(labels, stable=True)
    start = torch.cumsum(counts, 0) - counts

    # Classes: a random permutation of the eligible classes per episode, first N
    # (with groups: the classes of the episode's group first, all others last).
    allowed = None
    if groups is not None:
        allowed = _episode_groups(groups, eligible, ways, episodes, generator)  # [E, C']
    class_keys = torch.rand(episodes, len(eligible), generator=generator)
    if allowed is not None:
        class_keys = class_keys.masked_fill(~allowed, 2.0)
    chosen = eligible[class_keys.argsort(dim=1)[:, :ways]]  # [E, N]

    # Images: per chosen class, rank random keys among its images, keep the first K+Q.
    max_count = int(counts.max())
    image_keys = torch.rand(episodes, ways, max_count, generator=generator)
    valid = torch.arange(max_count) < counts[chosen].unsqueeze(-1)
    image_keys = image_keys.masked_fill(~valid, 2.0)  # invalid slots sort last
    picks = image_keys.argsort(dim=-1)[..., :per_class]  # [E, N, K+Q]
    index = order[start[chosen].unsqueeze(-1) + picks]
    return Episodes(
        support=index[..., :shots].contiguous(),
        query=index[..., shots:].contiguous(),
        classes=chosen,
    )


def _episode_groups(
    groups: torch.Tensor, eligible: torch.Tensor, ways: int, episodes: int, generator
) -> torch.Tensor:
    """``bool [E, C']``: which eligible classes each episode may use (those of its group)."""
    groups = torch.as_tensor(groups, dtype=torch.long)
    if groups.dim() != 1 or len(groups) <= int(eligible.max()):
        raise ValueError(
            f"groups must give one group per class ({int(eligible.max()) + 1} or more), "
            f"got shape {tuple(groups.shape)}"
        )
    of_eligible = groups[eligible]
    sizes = torch.bincount(of_eligible)
    usable = torch.nonzero(sizes >= ways).flatten()
    if len(usable) == 0:
        raise ValueError(
            f"{ways}-way episodes within one group need a group of {ways} classes with enough "
            f"images, but the largest has {int(sizes.max())}: ask for at most "
            f"{int(sizes.max())} ways"
        )
    picked = usable[torch.randint(len(usable), (episodes,), generator=generator)]  # [E]
    return of_eligible.unsqueeze(0) == picked.unsqueeze(1)
