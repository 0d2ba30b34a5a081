"""Evaluator throughput on one core: deterministic checks and similarity metrics per second.

    python benchmarks/evaluators.py [--outputs 2000] [--seconds 0.5] [--rounds 3]

Outputs are realistic model answers of 200-1000 characters (prose, some with a JSON object; JSON documents for
`is-json`), generated with a fixed seed. Each evaluator is prepared once (as `score_request` does) and called on
every output in turn; reported: calls per second (best of `--rounds` rounds of at least `--seconds`), the bare
Python operation the check boils down to, measured in the same run over the same texts (`needle in text` for
`contains`, `json.loads` for `is-json`, ...), and the ratio of the two. `score_request` is timed with five
simple evaluators per request. Similarity metrics are compared with calling the libraries directly the naive
way (rouge_score's own ROUGE-L, `sacrebleu.sentence_bleu` building its metric per call). Targets: 100 000
simple checks per second.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import sacrebleu
from rapidfuzz import fuzz
from rouge_score import rouge_scorer

from benchlab.evaluation.model import ItemContext, Response
from benchlab.evaluation.scoring import prepare, score_request
from benchlab.spec.model import EvaluatorSpec

WORDS = ("the model answer latency token request response capital city Paris France river Seine museum "
         "because however therefore result value number first second finally summary example data users "
         "price budget server cluster region quickly carefully", "a an of to in on for with by at from")


def realistic_outputs(count: int, seed: int = 7) -> list[str]:
    """Answers of 200-1000 characters; one in four ends with a small JSON object."""
    rng = random.Random(seed)
    content, small = WORDS[0].split(), WORDS[1].split()
    outputs = []
    for n in range(count):
        target = rng.randint(200, 1000)
        words: list[str] = []
        length = 0
        while length < target:
            word = rng.choice(content) if rng.random() < 0.7 else rng.choice(small)
            if rng.random() < 0.08:
                word += "."
            words.append(word)
            length += len(word) + 1
        text = " ".join(words)
        if n % 4 == 0:
            text += ' {"answer": "Paris", "confidence": 0.9}'
        outputs.append(text[0].upper() + text[1:])
    return outputs


def json_outputs(count: int, seed: int = 11) -> list[str]:
    """JSON documents of 200-1000 characters, as a model asked for JSON answers."""
    rng = random.Random(seed)
    documents = []
    for _ in range(count):
        items = [{"id": i, "name": rng.choice(WORDS[0].split()), "score": round(rng.random(), 3),
                  "tags": rng.sample(WORDS[0].split(), 2)} for i in range(rng.randint(2, 10))]
        documents.append(json.dumps({"status": "ok", "items": items}))
    return documents


def rate(call: Callable[[Any], object], inputs: Sequence[Any], seconds: float, rounds: int) -> float:
    """Calls per second: best of `rounds` rounds, each going over `inputs` until `seconds` have passed."""
    best = 0.0
    for _ in range(rounds):
        calls, started = 0, time.perf_counter()
        while True:
            for value in inputs:
                call(value)
            calls += len(inputs)
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
        best = max(best, calls / elapsed)
    return best


def evaluator(type_: str, value: Any = None, **options: Any) -> EvaluatorSpec:
    return EvaluatorSpec(type=type_, name=type_, value=value, options=options,
                         threshold=0.5 if type_ in ("levenshtein", "rouge-l", "rouge-n", "bleu", "chrf") else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts = realistic_outputs(args.outputs)
    documents = json_outputs(args.outputs)
    responses = [Response(text) for text in texts]
    json_responses = [Response(text) for text in documents]
    item = ItemContext(vars={"city": "Paris"}, expected_output="Paris")

    def measure(call: Callable[[Any], object], inputs: Sequence[Any]) -> float:
        return rate(call, inputs, args.seconds, args.rounds)

    needle = "Seine museum"
    baseline = measure(lambda text: needle in text, texts)
    pattern = re.compile(r"\b(?:Paris|Lyon)\b.{0,40}\bFrance\b")
    folded = needle.casefold()
    cases = [  # (check, spec, responses, the bare operation, its inputs)
        ("contains", evaluator("contains", needle), responses, lambda t: needle in t, texts),
        ("contains (templated)", evaluator("contains", "{{vars.city}}"), responses, lambda t: "Paris" in t, texts),
        ("icontains", evaluator("icontains", needle), responses, lambda t: folded in t.casefold(), texts),
        ("equals", evaluator("equals", "Paris"), responses, lambda t: t.strip() == "Paris", texts),
        ("starts-with", evaluator("starts-with", "The"), responses, lambda t: t.lstrip().startswith("The"), texts),
        ("regex", evaluator("regex", pattern.pattern), responses, pattern.search, texts),
        ("is-json", evaluator("is-json"), json_responses, json.loads, documents),
        ("contains-json", evaluator("contains-json"), responses, lambda t: t.find("{"), texts),
    ]
    print(f"{len(texts)} outputs of 200-1000 characters (mean {sum(map(len, texts)) / len(texts):.0f}); "
          f"baseline `needle in text`: {baseline:,.0f}/s")
    print(f"{'check':<22}{'calls/s':>12}{'µs/call':>9}{'bare op/s':>13}{'vs bare op':>11}{'vs baseline':>12}")
    for name, spec, inputs, bare, bare_inputs in cases:
        prepared = prepare(spec)
        per_second = measure(lambda response, prepared=prepared: prepared(response, item), inputs)
        bare_per_second = measure(bare, bare_inputs)
        print(f"{name:<22}{per_second:>12,.0f}{1e6 / per_second:>9.2f}{bare_per_second:>13,.0f}"
              f"{per_second / bare_per_second:>11.3f}{per_second / baseline:>12.3f}")

    five = [evaluator("contains", needle), evaluator("icontains", "paris"), evaluator("regex", pattern.pattern),
            evaluator("starts-with", "The"), evaluator("equals", "Paris")]
    requests = measure(lambda response: score_request(five, response, item), responses)
    print(f"{'score_request (5 checks)':<22}{requests:>12,.0f}{1e6 / requests:>9.2f}  requests/s "
          f"= {5 * requests:,.0f} checks/s (target: 100,000 simple checks/s)")

    reference = ("The capital of France is Paris, on the river Seine; its museums and its users make it the first "
                 "city of the country.")
    sentences = [text[:200] for text in texts]  # similarity is about answers of a sentence or two
    naive_rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    similarity = [
        ("levenshtein", lambda t: fuzz.ratio(t, reference)),
        ("rouge-l", lambda t: naive_rouge.score(reference, t)),
        ("rouge-n", None),
        ("bleu", lambda t: sacrebleu.sentence_bleu(t, [reference])),
        ("chrf", lambda t: sacrebleu.sentence_chrf(t, [reference])),
    ]
    print(f"\nsimilarity against a {len(reference)}-character reference, outputs cut to 200 characters")
    print(f"{'metric':<22}{'calls/s':>12}{'µs/call':>9}{'library/s':>13}{'vs library':>11}")
    short = [Response(text) for text in sentences]
    for name, library in similarity:
        prepared = prepare(evaluator(name, reference))
        per_second = measure(lambda response, prepared=prepared: prepared(response, item), short)
        line = f"{name:<22}{per_second:>12,.0f}{1e6 / per_second:>9.2f}"
        if library is not None:
            library_per_second = measure(library, sentences)
            line += f"{library_per_second:>13,.0f}{per_second / library_per_second:>11.3f}"
        print(line)
    print("(library: rapidfuzz ratio; rouge_score's RougeScorer rougeL; sacrebleu.sentence_bleu / sentence_chrf,"
          " which build their metric per call)")


if __name__ == "__main__":
    main()
