FROM alpine:3.18
# café in Latin-1 below
USER nobody
