# A digest pins the bytes, but `latest` still says nothing about which version they are.
FROM alpine:latest@sha256:beefdbd8a1da6d2915566fde36db9db0b524eb737fc57cd1367effd16dc0d06d
USER nobody
