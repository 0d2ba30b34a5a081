"""Cron schedules of experiments: due runs started, each gated against the experiment's baseline."""
