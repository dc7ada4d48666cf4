FROM golang:1.22 AS builder
WORKDIR /src
COPY . .
RUN go build -o /bin/server ./cmd/server

FROM rust:1.80 AS tools
RUN cargo install ripgrep

FROM alpine:3.19
RUN apk add --no-cache ca-certificates
COPY --from=builder /bin/server /usr/local/bin/server
COPY --from=1 /usr/local/cargo/bin/rg /usr/local/bin/rg
USER nobody
CMD ["server"]
