"""The one t-SNE perplexity rule: ``project``, ``plot`` and the report lower it the same way for few objects,
and say so in the same sentence."""

from __future__ import annotations


def effective_perplexity(requested: float, n: int) -> float:
    """The t-SNE perplexity used for ``n`` points: ``requested``, lowered to ``(n - 1) / 3`` (at least 1) where
    openTSNE could not use it. One rule for ``project``, ``plot`` and the report."""
    return float(min(float(requested), max((n - 1) / 3.0, 1.0)))


def perplexity_note(requested: float, n: int) -> str | None:
    """One sentence when :func:`effective_perplexity` lowers ``requested`` for ``n`` points, else ``None``."""
    used = effective_perplexity(requested, n)
    if used >= float(requested):
        return None
    return (f"t-SNE perplexity {used:.1f} instead of {float(requested):g}: {float(requested):g} needs more than "
            f"{int(3 * float(requested) + 1)} objects; here n = {n}")
