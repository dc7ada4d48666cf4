from ubuntu:jammy-20240911.1 as Base
onbuild run apt-get update && apt-get dist-upgrade -y
healthcheck --interval=30s cmd curl -f http://127.0.0.1/ || exit 1
label org.opencontainers.image.title="odd" \
      org.opencontainers.image.description="lower-case instructions, ONBUILD, JSON forms"
run ["/bin/sh", "-c", "apt-get install -y curl"]
FROM base
Stopsignal SIGTERM
user 0:0
