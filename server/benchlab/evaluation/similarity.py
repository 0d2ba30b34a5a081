"""Similarity evaluators: a score in [0, 1] between the output and a reference text; pass at the threshold (0.5).

The reference is the evaluator's value after templating (the parser fills in `{{expected_output}}` when the
document gives none; a non-string reference is compared as its compact JSON text). Both texts are stripped of
surrounding whitespace first. Identical texts score 1, even when too short for a metric's n-grams (ROUGE-2 of a
one-word answer would otherwise be 0); when exactly one of the two is empty the score is 0.

- `levenshtein`: `rapidfuzz.fuzz.ratio / 100`, i.e. 1 - (insertions + deletions) / (len(a) + len(b)) over
  characters (a substitution counts as two edits): the Indel-normalised similarity, not the Levenshtein one.
- `rouge-l`: ROUGE-L F-measure (F1) of the longest common subsequence of words: P = LCS / output words,
  R = LCS / reference words. The LCS length comes from `rapidfuzz.distance.LCSseq` over the word lists: the same
  figure as `rouge_score`'s `rougeL` (checked in the tests) at a fraction of its cost, whose pure-Python table is
  quadratic and slow on long outputs.
- `rouge-n` (`n`, default 2): ROUGE-N F-measure from `rouge_score.rouge_scorer.RougeScorer` (no stemming).
- `bleu`: sacreBLEU's sentence BLEU / 100: tokenizer `13a`, exponential smoothing (`smooth_method="exp"`) and
  effective order, as `sacrebleu.sentence_bleu` does. BLEU is a corpus metric; per sentence it is noisy.
- `chrf`: sacreBLEU's sentence chrF / 100 (character 6-grams, beta 2, no word n-grams).

Words for ROUGE: runs of letters and digits in any script, lowercased; each Han, Hiragana or Katakana character
is a word of its own (those scripts write no spaces). On ASCII text this is exactly `rouge_score`'s default
tokenizer, which keeps only `[a-z0-9]` and so scores 0 for any text in another script. No stemming. BLEU's `13a`
tokenizer splits on spaces and punctuation, so BLEU is of little use for Chinese or Japanese: use chrF there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz
from rapidfuzz.distance import LCSseq

from benchlab.evaluation.base import ScoreFn, ValueProblem, number, problem_scores, quote, shorten
from benchlab.evaluation.jsonvalues import as_text
from benchlab.evaluation.model import ItemContext, Response, Score
from benchlab.evaluation.templates import compile_value
from benchlab.spec.model import EvaluatorSpec

if TYPE_CHECKING:
    from sacrebleu.metrics import BLEU, CHRF

SIMILARITY_TYPES = frozenset({"levenshtein", "rouge-l", "rouge-n", "bleu", "chrf"})
DEFAULT_THRESHOLD = 0.5
DEFAULT_REFERENCE = "{{expected_output}}"
DEFAULT_ROUGE_N = 2

Metric = Callable[[str, str], float]
"""(output, reference), both stripped and non-empty, to a similarity in [0, 1]."""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")


class UnicodeTokenizer:
    """ROUGE words (see the module doc); has the `tokenize(text)` method `rouge_score` asks of a tokenizer."""

    def tokenize(self, text: str) -> list[str]:
        return WORD.findall(text.lower())


TOKENIZER = UnicodeTokenizer()


def prepare(spec: EvaluatorSpec) -> ScoreFn:
    template = compile_value(DEFAULT_REFERENCE if spec.value is None else spec.value)
    measure = metric(spec.type, spec.options)
    threshold = DEFAULT_THRESHOLD if spec.threshold is None else spec.threshold
    shown = f"rouge-{_rouge_n(spec.options)}" if spec.type == "rouge-n" else spec.type
    names = (spec.name,)

    def evaluate(response: Response, item: ItemContext) -> list[Score]:
        try:
            reference = as_text(template.render(item))
        except ValueProblem as problem:
            return problem_scores(names, problem)
        value = similarity(measure, response.output, reference)
        passed = value >= threshold
        reason = f"{shown} {number(value)} {'>=' if passed else '<'} {number(threshold)}"
        if not passed and value == 0.0 and not response.output.strip():
            reason += ": empty output"
        elif not passed:
            reason += f" against {quote(reference.strip(), 50)}"
        return [Score(spec.name, value, passed, shorten(reason))]
    return evaluate


def similarity(measure: Metric, output: str, reference: str) -> float:
    """The metric with the shared rules: stripped texts, identical = 1, one of them empty = 0, kept in [0, 1]."""
    output, reference = output.strip(), reference.strip()
    if output == reference:
        return 1.0
    if not output or not reference:
        return 0.0
    return min(1.0, max(0.0, measure(output, reference)))


def metric(type_: str, options: Mapping[str, Any]) -> Metric:
    """The metric of a similarity type; scorers are built once per process and shared."""
    if type_ == "levenshtein":
        return levenshtein
    if type_ == "rouge-l":
        return rouge_l
    if type_ == "rouge-n":
        return _rouge_n_metric(_rouge_n(options))
    if type_ == "bleu":
        return bleu
    if type_ == "chrf":
        return chrf
    raise ValueProblem(f"{type_!r} is not a similarity evaluator type")


def levenshtein(output: str, reference: str) -> float:
    return fuzz.ratio(output, reference) / 100.0


def rouge_l(output: str, reference: str) -> float:
    predicted, target = TOKENIZER.tokenize(output), TOKENIZER.tokenize(reference)
    if not predicted or not target:
        return 0.0
    common = LCSseq.similarity(predicted, target)
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(target)
    return 2 * precision * recall / (precision + recall)


def bleu(output: str, reference: str) -> float:
    return _sacrebleu_metrics()[0].sentence_score(output, [reference]).score / 100.0


def chrf(output: str, reference: str) -> float:
    return _sacrebleu_metrics()[1].sentence_score(output, [reference]).score / 100.0


def _rouge_n(options: Mapping[str, Any]) -> int:
    n = options.get("n")
    if n is None:
        return DEFAULT_ROUGE_N
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 9:
        raise ValueProblem(f"n must be a whole number from 1 to 9, not {quote(str(n))}")
    return n


@functools.cache
def _rouge_n_metric(n: int) -> Metric:
    from rouge_score import rouge_scorer  # imports nltk: about half a second, paid only when rouge-n is used

    kind = f"rouge{n}"
    scorer = rouge_scorer.RougeScorer([kind], use_stemmer=False, tokenizer=TOKENIZER)

    def rouge_n(output: str, reference: str) -> float:
        return float(scorer.score(reference, output)[kind].fmeasure)  # score(target, prediction)
    return rouge_n


@functools.cache
def _sacrebleu_metrics() -> tuple[BLEU, CHRF]:
    from sacrebleu.metrics import BLEU, CHRF

    return BLEU(smooth_method="exp", effective_order=True), CHRF()
