"""Flowwatch recognizers as Presidio recognizers, for teams that already run a Presidio pipeline.

``PRESIDIO_RECOGNIZERS`` holds one Presidio ``EntityRecognizer`` class per Flowwatch recognizer (named
``Presidio<Name>``), each usable for ``zh`` and ``en``; ``analyzer_engine()`` builds a Presidio
``AnalyzerEngine`` over them with Presidio's no-op NLP engine (no spaCy model needed). Context words are
applied by the recognizers themselves (Presidio's lemma-based context enhancer does not work for
Chinese without a model). The document-level rule that sensitive terms need an identified person
(``Recognizer.requires_identified``) and the overlap resolution are Flowwatch ``Scanner`` features: use
the Scanner for the full behaviour; it is also much faster.

Importing this module imports presidio-analyzer (and spaCy), about a second: the scanner does not need it.
"""

from __future__ import annotations

from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, NoOpNlpEngine

from flowwatch.detection.context import ContextRules, default_rules
from flowwatch.detection.recognizers import ALL_RECOGNIZERS
from flowwatch.detection.types import Recognizer

LANGUAGES = ("zh", "en")


class FlowwatchPresidioRecognizer(EntityRecognizer):
    """Presidio adapter of one Flowwatch recognizer class (``flowwatch_class``) for one language.

    ``analyze`` returns Presidio ``RecognizerResult`` objects with character offsets and the score after
    Flowwatch's context rules; matches below ``threshold`` (0..1) are dropped.
    """

    flowwatch_class: type[Recognizer]

    def __init__(
        self, supported_language: str = "zh", context: ContextRules | None = None, threshold: float = 0.5
    ) -> None:
        self._recognizer = self.flowwatch_class()
        self._rules = context or default_rules()
        self._threshold = threshold
        super().__init__(
            supported_entities=[self._recognizer.entity],
            name=type(self).__name__,
            supported_language=supported_language,
            context=list(self._rules.positive.get(self._recognizer.entity, ())),
        )

    def load(self) -> None:
        """Nothing to load: patterns and term automata are built in ``__init__``."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Matches of this recognizer's entity in ``text`` (empty if the entity is not in ``entities``)."""
        entity = self._recognizer.entity
        if entities and entity not in entities:
            return []
        results = []
        window = self._rules.window
        for m in self._recognizer.analyze(text):
            score = self._rules.adjust(entity, m.score, text[max(0, m.start - window) : m.start])
            if score >= self._threshold:
                results.append(RecognizerResult(entity, m.start, m.end, round(score, 3)))
        return results


PRESIDIO_RECOGNIZERS: dict[str, type[FlowwatchPresidioRecognizer]] = {
    cls.__name__: type(f"Presidio{cls.__name__}", (FlowwatchPresidioRecognizer,), {"flowwatch_class": cls})
    for cls in ALL_RECOGNIZERS
}
"""One Presidio recognizer class per Flowwatch recognizer, keyed by the Flowwatch class name."""


def presidio_registry(languages: tuple[str, ...] = LANGUAGES, **kwargs: Any) -> RecognizerRegistry:
    """A Presidio registry with every Flowwatch recognizer for each of ``languages``."""
    classes = PRESIDIO_RECOGNIZERS.values()
    recognizers = [cls(supported_language=lang, **kwargs) for lang in languages for cls in classes]
    return RecognizerRegistry(recognizers=recognizers, supported_languages=list(languages))


def analyzer_engine(languages: tuple[str, ...] = LANGUAGES) -> AnalyzerEngine:
    """A Presidio ``AnalyzerEngine`` over the Flowwatch recognizers, no spaCy model (no-op NLP engine)."""
    nlp = NoOpNlpEngine(models=[{"lang_code": lang, "model_name": "no_op"} for lang in languages])
    return AnalyzerEngine(
        registry=presidio_registry(languages), nlp_engine=nlp, supported_languages=list(languages)
    )
