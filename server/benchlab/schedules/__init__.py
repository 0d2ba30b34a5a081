"""Experiments on a cron schedule: validation and due times (timing), changes (manage), the loop (scheduler)."""
