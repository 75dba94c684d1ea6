# One image for every Blocktime process: api, worker, scheduler and the migrate job
# (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    PATH="/app/.venv/bin:$PATH"

RUN pip install --no-cache-dir uv

WORKDIR /app

# Dependencies first, from the lock file alone, so code changes reuse this layer.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY alembic.ini ./
COPY accounting ./accounting
COPY api ./api
COPY migrations ./migrations
COPY models ./models
COPY workers ./workers
RUN uv sync --frozen --no-dev

RUN useradd --system --uid 10001 --home-dir /app blocktime
USER blocktime

EXPOSE 8000
CMD ["blocktime", "serve", "--host", "0.0.0.0", "--port", "8000"]
