# The paysaga application image: workers, API, codec server, migrations, CLI.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY domain domain
COPY workflows workflows
COPY activities activities
COPY gateways gateways
COPY ledger ledger
COPY workers workers
COPY api api
COPY client client
COPY sandbox sandbox
COPY cli cli
COPY security security
COPY bench bench
COPY stack stack
COPY config config
RUN pip install . && useradd --system --uid 10001 paysaga
USER paysaga

# Services choose their command in docker-compose.yml.
CMD ["paysaga", "--help"]
