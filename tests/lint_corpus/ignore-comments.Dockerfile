# basewatch-ignore: BW101
FROM python AS build

# We know: the final stage needs root to bind port 80 (reviewed 2026-10).
# basewatch-ignore: BW109, full-variant
FROM nginx:1.27
# basewatch-ignore: BW114
RUN apt-get update && apt-get install -y --no-install-recommends curl
