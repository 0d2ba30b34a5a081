# The benchlab server image, used by docker-compose.yml (full-stack mode, docs/architecture.md).
# Embedded mode needs no image: `pip install benchlab && benchlab serve`.

# --- build: turn the checkout into a wheel ------------------------------------------------------------------
FROM python:3.11-slim AS build
WORKDIR /src
# Only the wheel's inputs. setup.py copies schema/, postgres/, clickhouse/ and dashboards/ into the wheel
# (benchlab/_shipped/), so the installed server finds its migrations without the checkout.
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY server/ server/
COPY schema/ schema/
COPY postgres/ postgres/
COPY clickhouse/ clickhouse/
COPY dashboards/ dashboards/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- graphiql: GraphiQL's published files from npm, so /graphql works without internet -----------------------
# Installed here, served by the server from where npm put them (BENCHLAB_GRAPHIQL_ASSETS); the versions are the
# ones the page's CDN fallback names (server/benchlab/api/graphiql.py), whose integrity hashes these files match.
FROM node:22-slim AS graphiql
RUN npm install --prefix /opt/graphiql --no-audit --no-fund graphiql@3.8.3 react@18.2.0 react-dom@18.2.0

# --- runtime: the wheel and its pinned dependencies, nothing else ---------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

COPY --from=build /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels

# Only the files the GraphiQL page loads, with their licences (the whole node_modules is ~50 MB).
COPY --from=graphiql /opt/graphiql/node_modules/graphiql/graphiql.min.js \
     /opt/graphiql/node_modules/graphiql/graphiql.min.css /opt/graphiql/node_modules/graphiql/LICENSE \
     /opt/graphiql/node_modules/graphiql/
COPY --from=graphiql /opt/graphiql/node_modules/react/umd/ /opt/graphiql/node_modules/react/umd/
COPY --from=graphiql /opt/graphiql/node_modules/react/LICENSE /opt/graphiql/node_modules/react/
COPY --from=graphiql /opt/graphiql/node_modules/react-dom/umd/ /opt/graphiql/node_modules/react-dom/umd/
COPY --from=graphiql /opt/graphiql/node_modules/react-dom/LICENSE /opt/graphiql/node_modules/react-dom/

# A fixed, non-root uid so volume ownership is predictable and runAsNonRoot checks can verify it.
# The data dir holds what the server keeps locally (e.g. ClickHouse batches waiting for a retry).
RUN groupadd --system --gid 10001 benchlab \
    && useradd --system --uid 10001 --gid benchlab --home-dir /var/lib/benchlab --no-create-home \
       --shell /usr/sbin/nologin benchlab \
    && mkdir -p /var/lib/benchlab \
    && chown benchlab:benchlab /var/lib/benchlab

# LITELLM_LOCAL_MODEL_COST_MAP: use litellm's bundled price table instead of fetching it at import time.
# BENCHLAB_GRAPHIQL_ASSETS: GraphiQL from the files installed above, not from a CDN.
# BENCHLAB_HOST: listen on all interfaces inside the container (the default 127.0.0.1 is unreachable).
ENV LITELLM_LOCAL_MODEL_COST_MAP=True \
    BENCHLAB_GRAPHIQL_ASSETS=/opt/graphiql/node_modules \
    BENCHLAB_HOST=0.0.0.0 \
    BENCHLAB_PORT=8000 \
    BENCHLAB_DATA_DIR=/var/lib/benchlab \
    HOME=/var/lib/benchlab

USER 10001:10001
WORKDIR /var/lib/benchlab
EXPOSE 8000

# Liveness only (/healthz): the process serves. docker-compose.yml checks /readyz (all stores answer) instead.
# python, because the slim image has no curl or wget.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BENCHLAB_PORT', '8000'), timeout=4)"]

CMD ["benchlab", "serve"]
