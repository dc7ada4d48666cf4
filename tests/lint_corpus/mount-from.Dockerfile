FROM debian:bookworm-slim AS keys
RUN echo key > /key

FROM alpine:3.21 AS unused-stage
RUN apk add --no-cache curl

FROM registry.example.test/team/runtime:2.4
RUN --mount=type=bind,from=keys,source=/key,target=/tmp/key \
    --mount=type=cache,target=/var/cache/apk \
    apk update && apk add gnupg && gpg --import /tmp/key
COPY --from=0 /key /etc/key
USER runtime
