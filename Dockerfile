# syntax=docker/dockerfile:1

# ---- build ----------------------------------------------------------------
FROM golang:1.26 AS build
WORKDIR /src
# Module downloads in their own layer: rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -o /tabula ./cmd/tabula
# The data dir, owned by the distroless nonroot user (65532), so that a fresh
# named volume mounted on /data is writable by the server.
RUN mkdir -p /data && chown 65532:65532 /data

# ---- run ------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /tabula /tabula
COPY --from=build --chown=65532:65532 /data /data
USER nonroot:nonroot
VOLUME ["/data"]
# 3000: the Rekor-compatible API; 2112: Prometheus metrics.
EXPOSE 3000 2112
ENTRYPOINT ["/tabula"]
CMD ["serve", "--listen", "0.0.0.0:3000", "--metrics-listen", "0.0.0.0:2112", "--data-dir", "/data"]
