"""Alert rules over production and scheduled-run figures: evaluation, states, notifications and webhooks."""
