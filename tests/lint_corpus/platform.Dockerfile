FROM --platform=linux/amd64 debian:bookworm AS amd64-only
RUN apt-get update && apt-get install -y gcc

FROM --platform=${BUILDPLATFORM} golang:1.23 AS cross
FROM --platform=$TARGETPLATFORM debian:bookworm-slim
COPY --from=amd64-only /usr/bin/gcc /usr/bin/gcc
USER 1000
