"""What every few-shot method of the course is: fit on a support set, then give logits.

A *method* (:class:`FewShotMethod`) turns the support set of ``E`` episodes into one
classifier per episode (:class:`Classifier`), all at once:

    classifier = method.fit(support)        # support features [E, N, K, d]
    logits = classifier.logits(queries)     # query features [E, Q, d] -> [E, Q, N]

A *transductive* method also looks at the episode's (unlabelled) queries while it fits,
``method.fit(support, queries)``: the entropy term of trick 2 does. Its answer for one
query then depends on which other queries came with it; a method declares this with
``transductive``.

The methods of the course: the prototype classifier
(:class:`~fewshot_utils.fewshot.prototypes.PrototypeMethod`) and fine-tuning with any of
the three tricks (:class:`~fewshot_utils.fewshot.fine_tuning.FineTuning`). The named
methods of the benchmark table are in :mod:`fewshot_utils.fewshot.methods`.
"""

from __future__ import annotations

from typing import Protocol

import torch


class Classifier(Protocol):
    """A classifier fitted to ``E`` episodes: ``logits`` ``[E, Q, d] -> [E, Q, N]``
    (or one episode, ``[Q, d] -> [Q, N]``)."""

    def logits(self, queries: torch.Tensor) -> torch.Tensor: ...


class FewShotMethod:
    """A few-shot method: :meth:`fit` on a batch of support sets, then classify queries.

    Subclasses set ``transductive`` (a class attribute or a property) and implement
    :meth:`fit` and :meth:`describe`.
    """

    #: Whether :meth:`fit` uses the episode's unlabelled queries (never their labels).
    transductive: bool = False

    def fit(
        self,
        support: torch.Tensor,
        queries: torch.Tensor | None = None,
        *,
        seed: int = 0,
        episode_index: torch.Tensor | None = None,
    ) -> Classifier:
        """One classifier per episode from ``support [E, N, K, d]`` (``[N, K, d]``: one episode).

        ``queries [E, Q, d]``: the episodes' query features, used only by transductive
        methods. ``seed`` and ``episode_index`` (``int64 [E]``, the episodes' positions in
        the whole batch being evaluated) fix any random start, so that an episode's result
        does not depend on which other episodes are fitted with it.
        """
        raise NotImplementedError

    def fit_classes(
        self, per_class: list[torch.Tensor], queries: torch.Tensor | None = None, seed: int = 0
    ) -> Classifier:
        """One episode whose classes may have different numbers of support images:
        ``per_class[n]`` is ``[K_n, d]``. Methods that need as many images in every class
        (fine-tuning) raise ``ValueError`` saying so unless all ``K_n`` are equal."""
        counts = [len(features) for features in per_class]
        if len(set(counts)) != 1:
            raise ValueError(
                f"{self.describe()} needs the same number of support images in every class "
                f"(got {', '.join(map(str, counts))}): add or remove images, or use the "
                "prototype classifier, which takes any number per class"
            )
        return self.fit(torch.stack(per_class), queries, seed=seed)

    def describe(self) -> str:
        """One line in the course's words, e.g. ``W = M, cosine (s = 10), λ = 0.1, ...``."""
        return type(self).__name__
