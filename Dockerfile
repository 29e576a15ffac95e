# The casework image: worker, API and migrations (docker-compose.yml chooses the command).

# The pages' front-end assets (GOV.UK Frontend, MOJ Frontend, Swagger UI, ReDoc) from package-lock.json.
FROM node:20-bookworm-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CASEWORK_ENVIRONMENT=production \
    CASEWORK_LOG_FORMAT=json

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin casework \
    && mkdir -p /data/documents /data/outbox \
    && chown -R casework /data

# Dependencies first (a cached layer): the runtime dependencies of pyproject.toml, with every
# transitive version pinned by requirements.lock.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself, installed from the source tree (data/ and the migrations are read from here).
COPY . .
COPY --from=assets /assets/node_modules ./node_modules
RUN pip install --no-deps -e . && python -c "import infra.settings, domain.search_attributes"

USER casework
EXPOSE 8000
# Default: the worker. The API runs `python -m api.serve`, the migrations `python -m readmodel.migrate`.
CMD ["python", "worker.py"]
