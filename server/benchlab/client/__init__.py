"""Talking to a Benchlab server through its GraphQL API: what `benchlab run --server`, `benchlab eval --server`
(and a running local `benchlab serve`) use instead of opening the stores in this process.

This package never imports the server side (api, auth, runtime, engine, stores): a CI machine runs it with nothing
but a URL and an API key (import-linter contract in pyproject.toml). `graphql` is the transport (queries and
mutations over HTTP, subscriptions over graphql-transport-ws, errors as one clear line), `target` decides
which server and credential to use, `runs` holds the operations on experiments and runs, `ids` the run id
forms, `local_server` the file through which a local `serve` makes itself known.
"""
