"""Fine-tuning a softmax classifier on the support set: the three tricks of the lecture.

The features stay frozen (the backbone is *not* fine-tuned); only a small
classifier on top of them is learned, one per episode:

    p(y | q) = softmax(W q̂ + b),     W: N x d,  b: N,    q̂ = f(x) / |f(x)|

The classifier always sees *normalised* features ``q̂`` (support and queries
alike), as the prototype classifier does, so that ``W = M, b = 0`` reproduces it
exactly. A fine-tuning method is a :class:`FineTuning` (a
:class:`~fewshot_utils.fewshot.classifier.FewShotMethod`); each trick is one of its switches:

1. **Cross-entropy on the support set** (always on; ``steps`` of Adam, full batch):
   ``L_CE = -(1/NK) Σ_{n,k} log p(n | x_{n,k})``.
2. **Initialisation and entropy regularisation**: ``init="random"`` starts like
   ``nn.Linear`` (``W, b ~ U(-1/√d, 1/√d)``), ``init="prototypes"`` starts from
   the prototype classifier ``W = M, b = 0``. ``entropy_weight`` λ adds the mean
   prediction entropy over the episode's *queries* (transductive: the unlabelled
   queries are used, never their labels; Dhillon et al. 2020):
   ``L = L_CE + λ · (1/Q) Σ_i H(p(· | q_i))`` over the episode's ``Q`` queries,
   with ``H(p) = -Σ_n p_n log p_n``.
   Low entropy = confident predictions, so the classifier is pushed to put its
   decision boundaries where there are few queries.
3. **Cosine classifier**: ``classifier="cosine"`` replaces ``w_n·q̂ + b_n`` by
   ``s · cos(w_n, q) + b_n``: the weight vectors are normalised too, so no class
   can win by growing its ``|w_n|``; the scale (temperature) ``s`` sets how peaked
   the softmax can get, fixed or learned (``learn_scale``, one ``s`` per episode).

**Batched across episodes.** ``E`` episodes are fine-tuned together: ``W [E, N, d]``
and ``b [E, N]`` are single tensors and the loss is the *sum* over episodes of
each episode's loss, ``L = Σ_e L_e``. Episode ``e``'s parameters appear only in
``L_e``, so ``∂L/∂W_e = ∂L_e/∂W_e``, and Adam's state is per number, so every
episode follows exactly the steps it would follow alone (see
``tests/test_fine_tuning.py``); it is just much faster than a Python loop
over episodes, where one episode's small matrices leave the processor mostly
waiting on Python (``benchmarks/speed.py`` measures it).

The classifier and its logits are in :mod:`fewshot_utils.fewshot.softmax_classifier`
(training and evaluation compute them with the same function); the gradients of the
loss are written out in :mod:`fewshot_utils.fewshot.gradients`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from fewshot_utils.fewshot.classifier import FewShotMethod
from fewshot_utils.fewshot.cosine_similarity import l2_normalize
from fewshot_utils.fewshot.gradients import loss_and_logit_gradient, weight_gradient_to_W
from fewshot_utils.fewshot.prototypes import prototypes
from fewshot_utils.fewshot.softmax_classifier import (
    CLASSIFIERS,
    FineTunedClassifier,
    FineTuningHistory,
    effective_weight,
    softmax_logits,
)
from fewshot_utils.validation import check, check_choice, check_flag

INITS = ("random", "prototypes")

#: λ for the "+ entropy" methods, chosen on held-out background alphabets by
#: ``benchmarks/choose_fine_tuning.py`` (its record: ``benchmarks/choose_fine_tuning.txt``).
DEFAULT_ENTROPY_WEIGHT = 0.03


@dataclass(frozen=True)
class FineTuning(FewShotMethod):
    """Fine-tuning a softmax classifier on each episode's support set: a few-shot method.

    * ``init``: ``"prototypes"`` (``W = M, b = 0``) or ``"random"`` (like ``nn.Linear``).
    * ``entropy_weight``: λ ≥ 0, the weight of the mean query entropy (0 = off).
    * ``classifier``: ``"linear"`` (``W q̂ + b``) or ``"cosine"`` (``s · cos(w_n, q) + b_n``).
    * ``scale``: ``s`` of the cosine classifier (its start value if ``learn_scale``);
      the linear classifier has no scale.
    * ``learn_scale``: learn ``s`` too (cosine only), one per episode, as ``log s``
      so that it stays positive and Adam's steps change it by a ratio.
    * ``steps``: Adam steps on the full support set (0 = keep the initial classifier).
    * ``lr``: Adam's learning rate.

    The defaults are plain fine-tuning from ``W = M`` (no entropy, linear) with Adam,
    and s = 10 for the cosine classifier; the learning rate and steps were chosen on
    held-out *background* alphabets (never the evaluation ones) by
    ``benchmarks/choose_fine_tuning.py``, one (lr, steps) shared by all the methods.

    ``fit(support, queries)`` fine-tunes (:func:`fine_tune`); the method is
    *transductive* when λ > 0: the entropy term looks at the episode's queries. A
    subclass can change the support loss (:meth:`support_loss`), e.g. label smoothing.
    """

    init: str = "prototypes"
    entropy_weight: float = 0.0
    classifier: str = "linear"
    scale: float = 10.0
    learn_scale: bool = False
    steps: int = 100
    lr: float = 3e-1

    def __post_init__(self) -> None:
        check_choice(self.init, "init", INITS)
        check_choice(self.classifier, "classifier", CLASSIFIERS)
        check_flag(self.learn_scale, "learn_scale")
        for name in ("entropy_weight", "scale", "steps", "lr"):
            object.__setattr__(self, name, check(name, getattr(self, name)))  # 5.0 -> 5
        if self.learn_scale and self.classifier != "cosine":
            raise ValueError(
                "learn_scale applies to the cosine classifier only: "
                "set classifier='cosine' or learn_scale=False"
            )

    @property
    def transductive(self) -> bool:
        """True when the entropy term (λ > 0) uses the episode's unlabelled queries."""
        return self.entropy_weight > 0

    def fit(
        self,
        support: torch.Tensor,
        queries: torch.Tensor | None = None,
        *,
        seed: int = 0,
        episode_index: torch.Tensor | None = None,
        query_labels: torch.Tensor | None = None,
        record: bool = False,
        device: str | torch.device | None = None,
    ) -> FineTunedClassifier:
        """Fine-tune one classifier per episode: :func:`fine_tune` with this method."""
        return fine_tune(support, queries, self, seed, episode_index, query_labels, record, device)

    def support_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each episode's support loss ``L_CE``: ``logits [E, N, R]`` (class-major, ``R = NK``
        support images), ``labels int64 [E, R]`` -> ``[E]``, the mean cross-entropy."""
        return F.cross_entropy(logits, labels, reduction="none").mean(dim=1)

    def support_loss_and_gradient(
        self, logits: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(support loss [E], its gradient ∂Σ_e L_e / ∂logits [E, N, R])`` by autograd: how
        a subclass's own :meth:`support_loss` is trained (the cross-entropy's gradient is
        written out, :func:`~fewshot_utils.fewshot.gradients.loss_and_logit_gradient`)."""
        with torch.enable_grad():
            logits = logits.detach().requires_grad_(True)
            loss = self.support_loss(logits, labels)
            (gradient,) = torch.autograd.grad(loss.sum(), logits)
        return loss.detach(), gradient

    def describe(self) -> str:
        """One line in the course's words, e.g. ``W = M, cosine (s = 10), λ = 0.1, 100 steps``."""
        parts = ["W = M" if self.init == "prototypes" else "random init"]
        if self.classifier == "cosine":
            learned = ", learned" if self.learn_scale else ""
            parts.append(f"cosine (s = {self.scale:g}{learned})")
        else:
            parts.append("linear")
        if self.entropy_weight:
            parts.append(f"λ = {self.entropy_weight:g}")
        parts.append(f"{self.steps} steps of Adam (lr {self.lr:g})")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------
# The classifier
# ----------------------------------------------------------------------------


# ----------------------------------------------------------------------------
# Fine-tuning
# ----------------------------------------------------------------------------


def random_init(
    episodes: int,
    ways: int,
    dim: int,
    seed: int = 0,
    episode_index: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``W [E, N, d], b [E, N] ~ U(-1/√d, 1/√d)``: how ``nn.Linear(d, N)`` starts.

    Episode ``e`` draws from its own generator, seeded with ``(1000003 · seed +
    episode_index[e]) mod 2³²`` (default ``episode_index = 0 .. E-1``; the CPU
    generator keeps 32 bits of a seed), so its start does not depend on which
    other episodes are fine-tuned in the same batch.
    """
    if episode_index is None:
        episode_index = torch.arange(episodes)
    bound = 1.0 / math.sqrt(dim)
    W = torch.empty(episodes, ways, dim)
    b = torch.empty(episodes, ways)
    for e, index in enumerate(episode_index.tolist()):
        generator = torch.Generator().manual_seed((1_000_003 * int(seed) + int(index)) % 2**32)
        values = torch.rand(ways * (dim + 1), generator=generator) * (2 * bound) - bound
        W[e] = values[: ways * dim].view(ways, dim)
        b[e] = values[ways * dim :]
    return W, b


def fine_tune(
    support: torch.Tensor,
    queries: torch.Tensor | None = None,
    method: FineTuning | None = None,
    seed: int = 0,
    episode_index: torch.Tensor | None = None,
    query_labels: torch.Tensor | None = None,
    record: bool = False,
    device: str | torch.device | None = None,
) -> FineTunedClassifier:
    """Fine-tune one softmax classifier per episode on frozen features, all episodes at once.

    * ``support``: ``[E, N, K, d]`` features, ``support[e, n, k]`` is shot ``k`` of class ``n``
      (or one episode ``[N, K, d]``);
    * ``queries``: ``[E, Q, d]`` (or ``[Q, d]``) features of the episode's queries,
      needed for the entropy term (their labels are never used for training);
    * ``method``: the tricks, a :class:`FineTuning` (default: its defaults);
    * ``seed``, ``episode_index``: the random start (``init="random"``), see :func:`random_init`;
    * ``query_labels``: ``[E, Q]``, only to record query accuracy;
    * ``record``: keep a :class:`FineTuningHistory` (costs one more forward pass of the queries
      per step when λ = 0);
    * ``device``: where to fine-tune (default: the support features' device); the features
      are moved there, and the classifier, Adam's state and the history live there. A
      random start is drawn on the CPU and moved, so it is the same on every device.

    Minimises ``L = Σ_e [L_CE(e) + λ · mean_i H(p(· | q_{e,i}))]`` with ``method.steps``
    full-batch Adam steps and returns the :class:`FineTunedClassifier` (unbatched in,
    unbatched out).
    """
    method = FineTuning() if method is None else method
    if device is not None:
        support = support.to(device)
        queries = None if queries is None else queries.to(device)
    unbatched = support.dim() == 3
    if unbatched:
        support = support.unsqueeze(0)
        queries = None if queries is None else queries.unsqueeze(0)
        query_labels = None if query_labels is None else query_labels.unsqueeze(0)
    if support.dim() != 4:
        raise ValueError(
            f"support must be [E, N, K, d] (or [N, K, d]), got shape {tuple(support.shape)}"
        )
    num_episodes, ways, shots, dim = support.shape
    if queries is not None and (
        queries.dim() != 3 or queries.shape[0] != num_episodes or queries.shape[-1] != dim
    ):
        raise ValueError(
            f"queries must be [E, Q, d] = [{num_episodes}, Q, {dim}] to match the support set, "
            f"got shape {tuple(queries.shape)}"
        )
    if queries is None and (method.entropy_weight > 0 or record):
        raise ValueError(
            "the entropy term and the history need the episode's query features: pass queries"
        )

    # Normalised features, stored transposed: [E, d, R] makes the logits W @ features
    # "class-major", [E, N, R], the faster matmul layout; the queries follow the support
    # images in the same tensor when they take part, so one product gives all logits.
    support_t = l2_normalize(support.detach()).reshape(num_episodes, ways * shots, dim)
    features_t = support_t.transpose(1, 2)
    uses_queries = method.entropy_weight > 0 or record
    if uses_queries:
        query_t = l2_normalize(queries.detach()).transpose(1, 2)
        features_t = torch.cat([features_t, query_t], dim=2)
    features_t = features_t.contiguous()  # [E, d, NK (+ Q)]
    device, dtype = support.device, support.dtype
    support_labels = torch.arange(ways, device=device).repeat_interleave(shots)
    support_labels = support_labels.expand(num_episodes, -1)
    if query_labels is not None:
        query_labels = query_labels.to(device)

    if method.init == "prototypes":
        W = prototypes(support.detach()).clone()
        b = torch.zeros(num_episodes, ways, device=device, dtype=dtype)
    else:
        W, b = random_init(num_episodes, ways, dim, seed, episode_index)
        W, b = W.to(device, dtype), b.to(device, dtype)
    parameters = [W, b]
    log_scale = None
    if method.learn_scale:
        log_scale = torch.full((num_episodes,), math.log(method.scale), device=device, dtype=dtype)
        parameters.append(log_scale)
    history = {"support_loss": [], "query_entropy": [], "query_accuracy": []}
    support_count = ways * shots

    custom_loss = None
    if type(method).support_loss is not FineTuning.support_loss:
        custom_loss = lambda logits: method.support_loss_and_gradient(logits, support_labels)  # noqa: E731
    features = features_t.transpose(1, 2).contiguous()  # [E, NK (+ Q), d], for the gradient

    def loss_gradients(keep: bool) -> list[torch.Tensor]:
        """The gradients of ``L = Σ_e [L_CE(e) + λ · mean_i H(p(· | q_{e,i}))]`` for W, b
        (and log s), written out (:mod:`fewshot_utils.fewshot.gradients`); recording if asked."""
        scale = method.scale if log_scale is None else log_scale.exp()
        weight = effective_weight(W, method.classifier, scale)
        logits = softmax_logits(weight, b, features_t, class_major=True)  # [E, N, NK (+ Q)]
        if keep and query_labels is not None:
            right = logits[..., support_count:].argmax(dim=1) == query_labels
            history["query_accuracy"].append(100.0 * right.float().mean(dim=1))
        support_loss, query_entropy, logit_gradient = loss_and_logit_gradient(
            logits, support_labels, method.entropy_weight, custom_loss
        )
        if keep:
            history["support_loss"].append(support_loss)
            history["query_entropy"].append(query_entropy)
        seen = features[:, : logit_gradient.shape[2]]  # the images the loss looks at
        weight_gradient = torch.bmm(logit_gradient, seen)  # [E, N, d]
        gradients = [
            weight_gradient_to_W(W, weight, weight_gradient, method.classifier, scale),
            logit_gradient.sum(dim=2),
        ]
        if log_scale is not None:  # weight = s ŵ, so ∂L/∂log s = Σ_n,d weight ⊙ ∂L/∂weight
            gradients.append((weight * weight_gradient).sum(dim=(1, 2)))
        return gradients

    with torch.no_grad():
        if method.steps > 0:
            # Adam keeps a separate m and v for every number, so stacked episodes never
            # influence each other.
            optimiser = torch.optim.Adam(parameters, lr=method.lr, fused=_fused(device))
            for _ in range(method.steps):
                for parameter, gradient in zip(parameters, loss_gradients(record), strict=True):
                    parameter.grad = gradient
                optimiser.step()
        if record:
            loss_gradients(keep=True)

    W, b = W.detach(), b.detach()
    final_scale = method.scale if log_scale is None else log_scale.detach().exp()
    recorded = None
    if record:
        recorded = FineTuningHistory(
            support_loss=torch.stack(history["support_loss"]),
            query_entropy=torch.stack(history["query_entropy"]),
            query_accuracy=(
                torch.stack(history["query_accuracy"]) if history["query_accuracy"] else None
            ),
        )
    if unbatched:
        W, b = W[0], b[0]
        if isinstance(final_scale, torch.Tensor):
            final_scale = final_scale[0]
        if recorded is not None:
            recorded = FineTuningHistory(
                recorded.support_loss[:, 0],
                recorded.query_entropy[:, 0],
                None if recorded.query_accuracy is None else recorded.query_accuracy[:, 0],
            )
    return FineTunedClassifier(W, b, method.classifier, final_scale, recorded)


def _fused(device: torch.device) -> bool | None:
    """Adam's fused kernel (one pass over all parameters) where torch has one."""
    return True if device.type in ("cpu", "cuda") else None


def fine_tune_one_episode(
    support: torch.Tensor,
    queries: torch.Tensor | None = None,
    method: FineTuning | None = None,
    seed: int = 0,
    episode_index: int = 0,
) -> FineTunedClassifier:
    """The reference: fine-tune a single episode (``support [N, K, d]``, ``queries [Q, d]``).

    Same maths as :func:`fine_tune` with ``E = 1``; a loop over episodes calling this
    is the slow way that the batched version must agree with.
    """
    return fine_tune(
        support, queries, method, seed=seed, episode_index=torch.tensor([episode_index])
    )
