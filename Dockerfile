# The paysaga application image: workers, API, codec server, migrations, CLI.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini requirements-lock.txt ./
COPY paysaga paysaga
COPY workflows workflows
COPY activities activities
COPY ledger ledger
COPY workers workers
# The versions CI tested (README: "Dependencies and the lock file").
RUN pip install -c requirements-lock.txt . && useradd --system --uid 10001 paysaga
USER paysaga

# Services choose their command in docker-compose.yml.
CMD ["paysaga", "--help"]
