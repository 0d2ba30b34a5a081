"""Cost of a request in USD: the model's own prices when the spec gives them, else litellm's price map.

Stored prices win (teams negotiate rates, self-hosted models have none in the map). Otherwise the map is
consulted under the model's litellm id (`<provider type>/<model>`) on every transport: an OpenAI-compatible
provider reached by the direct client is priced like the same model through litellm. A model found nowhere
has an unknown cost (None, stored as `cost_known = false`), never a silent 0; the log says so once per model.

Prices are looked up once per model before a run sends anything (`model_prices`, blocking: call it in a
worker thread): the first lookup imports litellm, about two seconds of CPU that must not land on the event
loop while requests are being timed.
"""

from __future__ import annotations

import functools
import logging

from benchlab.engine.transport_litellm import import_litellm

log = logging.getLogger(__name__)

Prices = tuple[float, float]  # USD per million input tokens, per million output tokens


def model_prices(input_price_per_mtok: float | None, output_price_per_mtok: float | None,
                 litellm_model: str) -> Prices | None:
    """The model's prices per million tokens, or None when no price is known for it."""
    if input_price_per_mtok is not None or output_price_per_mtok is not None:
        return input_price_per_mtok or 0.0, output_price_per_mtok or 0.0
    return _map_prices(litellm_model)


def request_cost(prompt_tokens: int, completion_tokens: int, prices: Prices | None) -> float | None:
    """USD for the tokens, or None when no price is known for the model."""
    if prices is None:
        return None
    return (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1e6


@functools.lru_cache(maxsize=256)
def _map_prices(litellm_model: str) -> Prices | None:
    litellm = import_litellm()  # silenced: nothing printed on stdout
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(model=litellm_model, prompt_tokens=1_000_000,
                                                              completion_tokens=1_000_000)
    except Exception:  # litellm raises several types for unmapped models
        log.info("no price known for %s; its cost is recorded as unknown (set prices on the model)", litellm_model)
        return None
    return prompt_cost, completion_cost
