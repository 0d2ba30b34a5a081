"""Similarity evaluators (docs/evaluation.md, "Types"): values computed by hand or by the reference libraries'
documented functions, identical = 1, disjoint = 0, text in other scripts, thresholds, missing references."""

from __future__ import annotations

import random

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from benchlab.evaluation.base import MISSING_REFERENCE
from benchlab.evaluation.model import ItemContext
from benchlab.evaluation.similarity import TOKENIZER
from tests.helpers.evaluators import score, spec

TYPES = ["levenshtein", "rouge-l", "rouge-n", "bleu", "chrf"]


def value(type_: str, output: str, reference: str, **options: object) -> float:
    return score(spec(type_, reference, **options), output).value


@pytest.mark.parametrize("type_", TYPES)
def test_identical_is_one_and_disjoint_is_zero(type_: str) -> None:
    text = "The quick brown fox jumps over the lazy dog"
    assert value(type_, text, text) == 1.0
    assert value(type_, f"  {text}\n", text) == 1.0  # surrounding whitespace does not count
    assert value(type_, "yes", "yes") == 1.0  # too short for bigrams, still identical
    assert value(type_, "", "") == 1.0
    assert value(type_, "", text) == 0.0
    assert value(type_, text, "") == 0.0
    assert value(type_, "aaaabbbb", "xxxx yyyy zzzz") == 0.0  # no character, word or n-gram shared


def test_levenshtein_is_rapidfuzz_ratio() -> None:
    # LCS("kitten", "sitting") = "ittn" (4): 6 + 7 - 2 * 4 = 5 insertions and deletions over 13 characters.
    assert value("levenshtein", "kitten", "sitting") == pytest.approx(8 / 13)
    assert value("levenshtein", "abcd", "abce") == pytest.approx(6 / 8)


def test_rouge_l_by_hand() -> None:
    # LCS of words: "police the gunman" (3) of 4 and 4: P = R = 3/4.
    assert value("rouge-l", "police kill the gunman", "police killed the gunman") == pytest.approx(0.75)
    # LCS "the gunman" (2): P = 2/6, R = 2/4, F = 2PR / (P + R) = (1/3) / (5/6) = 0.4.
    assert value("rouge-l", "the gunman was killed by police", "police killed the gunman") == pytest.approx(0.4)
    # LCS "the cat on the mat" (5) of 6 and 6.
    assert value("rouge-l", "The cat, on the mat, sat.", "the cat sat on the mat") == pytest.approx(5 / 6)


def test_rouge_l_equals_rouge_score() -> None:
    """The LCS from rapidfuzz gives rouge_score's own rougeL F-measure (its default tokenizer, on ASCII text)."""
    reference_scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    words = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "rug", "quickly", "42", "it's",
             "model-based"]
    rng = random.Random(7)
    for _ in range(200):
        output = " ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))
        reference = " ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))
        expected = reference_scorer.score(reference, output)["rougeL"].fmeasure
        if output.strip() != reference.strip():
            assert value("rouge-l", output, reference) == pytest.approx(expected, abs=1e-12)


def test_rouge_n_by_hand() -> None:
    reference, output = "the cat sat on the mat", "the cat sat on a mat"
    # Bigrams: 3 of 5 shared (the cat, cat sat, sat on), P = R = 3/5.
    assert value("rouge-n", output, reference) == pytest.approx(0.6)
    # Unigrams: the (once: min(2, 1)), cat, sat, on, mat: 5 of 6 each.
    assert value("rouge-n", output, reference, n=1) == pytest.approx(5 / 6)
    assert score(spec("rouge-n", reference, n=1), "the mat").reason == "rouge-1 0.5 >= 0.5"


def test_rouge_reads_words_of_any_script() -> None:
    assert TOKENIZER.tokenize("Москва — столица России!") == ["москва", "столица", "россии"]
    assert TOKENIZER.tokenize("我喜欢猫 ok") == ["我", "喜", "欢", "猫", "ok"]
    assert TOKENIZER.tokenize("Don't stop_now 3.14") == ["don", "t", "stop", "now", "3", "14"]  # as rouge_score
    assert value("rouge-l", "Москва столица России", "Москва — столица России") == 1.0
    assert value("rouge-l", "我喜欢狗", "我喜欢猫") == pytest.approx(0.75)  # 3 of 4 characters in order
    assert value("rouge-n", "Straße nach Köln", "Straße nach Bonn", n=1) == pytest.approx(2 / 3)
    # What this avoids: rouge_score's default tokenizer keeps [a-z0-9] only, so Cyrillic scores 0.
    default = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    assert default.score("Москва — столица России", "Москва столица России")["rougeL"].fmeasure == 0.0


def test_bleu_and_chrf_are_sacrebleus_sentence_scores() -> None:
    cases = [("the cat is on the mat", "the cat sat on the mat"),
             ("a quick brown dog leaps over the lazy fox", "the quick brown fox jumps over the lazy dog"),
             ("It is raining.", "It rains today.")]
    for output, reference in cases:
        assert value("bleu", output, reference) == pytest.approx(
            sacrebleu.sentence_bleu(output, [reference]).score / 100)  # exp smoothing, effective order: its defaults
        assert value("chrf", output, reference) == pytest.approx(
            sacrebleu.sentence_chrf(output, [reference]).score / 100)
    assert 0 < value("bleu", *cases[0]) < 1


def test_bleu_by_hand_without_a_four_gram_gap() -> None:
    # Every 1..4-gram of the output is in the reference (precisions 1) and the output is as long: BLEU = 1
    # although the texts differ (punctuation is split off by the 13a tokenizer, "mat." -> "mat ." on both).
    assert value("bleu", "the cat sat on the mat .", "the cat sat on the mat.") == pytest.approx(1.0)
    # Brevity penalty alone: 4 of 6 words, all n-grams correct: exp(1 - 6/4) = 0.6065.
    assert value("bleu", "the cat sat on", "the cat sat on the mat") == pytest.approx(0.60653066, abs=1e-6)


def test_threshold_decides_and_the_reason_shows_both() -> None:
    passed = score(spec("levenshtein", "sitting", threshold=0.5), "kitten")
    assert passed.passed and passed.reason == "levenshtein 0.6154 >= 0.5"
    failed = score(spec("levenshtein", "sitting", threshold=0.7), "kitten")
    assert not failed.passed and failed.reason == "levenshtein 0.6154 < 0.7 against 'sitting'"
    assert score(spec("rouge-l", "a b"), "").reason == "rouge-l 0 < 0.5: empty output"
    assert score(spec("chrf", "abc"), "abc").passed  # default threshold 0.5


def test_the_reference_is_the_templated_value_or_expected_output() -> None:
    item = ItemContext(vars={"city": "Paris"}, expected_output="The capital is Paris")
    assert score(spec("levenshtein"), "The capital is Paris", item).value == 1.0  # no value: expected_output
    assert score(spec("rouge-l", "capital {{vars.city}}"), "capital Paris", item).value == 1.0
    assert score(spec("levenshtein", "{{expected_output}}"), "4", ItemContext(expected_output=4)).value == 1.0
    for type_ in TYPES:
        missing = score(spec(type_, "{{expected_output}}"), "anything", ItemContext())
        assert (missing.passed, missing.value, missing.label) == (False, 0.0, MISSING_REFERENCE)
        assert missing.reason == "the item has no expected_output"


@pytest.mark.parametrize("type_", TYPES)
def test_a_huge_output_scores_within_bounds(type_: str) -> None:
    huge = ("the quick brown fox jumps over the lazy dog " * 23_000)[:1_000_000]
    result = score(spec(type_, "the quick brown fox"), huge)
    assert 0.0 <= result.value < 0.5 and not result.passed and len(result.reason) <= 200
