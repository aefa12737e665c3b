"""CRF helpers beside pytorch-crf's `CRF`: the marginal probability of one entity span (forward-backward).

The pipeline scores each entity with it (`MultimodalNERPipeline`): the probability, under the main CRF of
Eq. 16, that exactly these words form this entity, rather than the score of the Viterbi path (Eq. 20).
"""

from __future__ import annotations

import torch
from torchcrf import CRF


@torch.no_grad()
def span_probability(crf: CRF, emissions: torch.Tensor, labels: list[int], start: int, end: int,
                     continuation: int | None = None) -> float:
    """Marginal probability that words `start..end` (inclusive) of one tweet carry `labels` (e.g. B-PER I-PER), and
    that the next word does not continue the span with `continuation` (the `I-` id of its type, or `None`).

    Args:
        crf: the CRF whose transitions score the paths.
        emissions (`torch.FloatTensor` of shape `(num_words, num_labels)`): one tweet's emissions, real words only.
    """
    emissions = emissions.float()
    length = emissions.shape[0]
    if not 0 <= start <= end < length or len(labels) != end - start + 1:
        raise ValueError(f"Span [{start}, {end}] with {len(labels)} labels does not fit {length} words.")
    alpha = [crf.start_transitions + emissions[0]]  # log alpha_t(j), emission at t included
    for t in range(1, length):
        alpha.append(torch.logsumexp(alpha[-1][:, None] + crf.transitions, dim=0) + emissions[t])
    beta = [crf.end_transitions]  # log beta_t(i), built backwards from the last word
    for t in range(length - 2, -1, -1):
        beta.append(torch.logsumexp(crf.transitions + (emissions[t + 1] + beta[-1])[None, :], dim=1))
    beta.reverse()
    log_z = torch.logsumexp(alpha[-1] + crf.end_transitions, dim=0)

    def log_probability(path: list[int], first: int) -> torch.Tensor:
        score = alpha[first][path[0]]
        for offset in range(1, len(path)):
            score = score + crf.transitions[path[offset - 1], path[offset]] + emissions[first + offset, path[offset]]
        return score + beta[first + len(path) - 1][path[-1]] - log_z

    probability = log_probability(labels, start).exp()
    if end + 1 < length and continuation is not None:
        probability = probability - log_probability(labels + [continuation], start).exp()
    return float(probability.clamp(0.0, 1.0))


__all__ = ["span_probability"]
