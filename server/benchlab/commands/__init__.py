"""The commands behind `benchlab <command>`: each opens what it needs, does its job, and closes it."""
