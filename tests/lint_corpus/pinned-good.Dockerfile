# syntax=docker/dockerfile:1
FROM python:3.12-slim-bookworm@sha256:2a6386ad2db20e7f55073f69a98d6da2cf9f168e05e7487d2670baeb9b7601c5

RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --system --uid 10001 app
COPY --chown=10001:10001 . /app
USER 10001
CMD ["python", "/app/main.py"]
