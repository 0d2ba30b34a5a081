"""Benchlab: an LLM experiment and latency-analytics server."""

import os

# litellm fetches its model price map over the network at import time unless told not to
# (a DNS lookup was seen on litellm 1.106.2). Set before anything can import it.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"
