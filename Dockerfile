# syntax=docker/dockerfile:1
#
# shiptrack container image: one fully static binary on distroless.
#
#   docker build -t shiptrack .
#   docker run --rm -p 8080:8080 -v shiptrack-data:/data shiptrack
#
# The release build command (the same on a developer machine with gcc; see
# docs/deploy.md). SQLite's driver is cgo, so the binary is linked statically
# against glibc by the external linker; netgo and osusergo keep the DNS
# resolver and user lookups in pure Go so nothing needs glibc's NSS at run time:
#
#   CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,sqlite_omit_load_extension -ldflags '-s -w -linkmode external -extldflags "-static"' -o shiptrack .
#
# deploy_test.go reads the RUN line below and builds exactly that command, so
# `go test` checks this Dockerfile's build on machines without Docker.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,sqlite_omit_load_extension -ldflags '-s -w -linkmode external -extldflags "-static"' -o shiptrack .
# Fail the build if the binary is not static or does not run.
RUN ldd shiptrack 2>&1 | grep -q 'not a dynamic executable' && ./shiptrack --help >/dev/null
# The SQLite data directory, owned by distroless's nonroot user (65532).
RUN install -d -o 65532 -g 65532 -m 0750 /rootfs/data

# distroless/static: CA certificates (HTTPS to the weather provider), tzdata,
# /etc/passwd with nonroot; no shell, no package manager (~2 MB).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build --chown=65532:65532 /rootfs/ /
COPY --from=build /src/shiptrack /shiptrack
# The default database URL sqlite:shiptrack.db is relative: it lands in
# /data/shiptrack.db. Mount a volume there to keep it; a config.yaml placed
# in /data is read too. SHIPTRACK_* variables override both.
WORKDIR /data
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/shiptrack", "healthcheck"]
ENTRYPOINT ["/shiptrack"]
CMD ["serve"]
