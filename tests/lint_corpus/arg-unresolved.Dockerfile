ARG BASE
ARG TAG
FROM $BASE:$TAG AS build
RUN make

FROM ${RUNTIME_IMAGE:-debian:bookworm-slim}
COPY --from=build /out /out
