# 3scale-ops container image: a static binary, CA certificates and the
# PostgreSQL 17 client (pg_dump writes the schema of zync's database; it
# reads PostgreSQL 9.2 to 17). Build: docker build -t 3scale-ops .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/3scale-ops ./cmd/3scale-ops

FROM alpine:3.21
RUN apk add --no-cache ca-certificates postgresql17-client && pg_dump --version
COPY --from=build /out/3scale-ops /usr/local/bin/3scale-ops
USER 65532:65532
ENV TMPDIR=/tmp THREESCALE_OPS_PG_DUMP=/usr/bin/pg_dump
ENTRYPOINT ["/usr/local/bin/3scale-ops"]
