"""Context snippets for error reports: the value of interest masked, other PI around it hidden."""

from __future__ import annotations

from collections.abc import Iterable

from flowwatch.detection.masking import mask

__all__ = ["masked_context"]


def masked_context(
    text: str,
    start: int,
    end: int,
    entity: str,
    hide: Iterable[tuple[int, int]] = (),
    width: int = 16,
) -> str:
    """One line showing ``text[start:end]`` as ``⟦masked value⟧`` with up to ``width`` characters each side.

    The value is masked with ``flowwatch.detection.masking.mask(entity, value)``; characters of the
    context inside any ``[s, e)`` of ``hide`` (other gold or predicted spans) become ``*``; newlines are
    shown as ``⏎``. ``…`` marks a cut.
    """
    lo, hi = max(0, start - width), min(len(text), end + width)
    hidden: set[int] = set()
    for s, e in hide:
        hidden.update(range(max(lo, s), min(hi, e)))

    def show(a: int, b: int) -> str:
        return "".join("*" if i in hidden else text[i] for i in range(a, b))

    line = f"{'…' if lo > 0 else ''}{show(lo, start)}⟦{mask(entity, text[start:end])}⟧{show(end, hi)}"
    return (line + ("…" if hi < len(text) else "")).replace("\n", "⏎")
