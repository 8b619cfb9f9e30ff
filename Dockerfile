# 3scale-ops container image: a static binary and CA certificates, nothing else
# (no shell, no package manager). Build: docker build -t 3scale-ops .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/3scale-ops ./cmd/3scale-ops

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/3scale-ops /usr/local/bin/3scale-ops
USER 65532:65532
ENV TMPDIR=/tmp
ENTRYPOINT ["/usr/local/bin/3scale-ops"]
