"""The experiment engine: plan, load profiles, timed requests, evaluation, run lifecycle."""
