# syntax=docker/dockerfile:1
#
# shiptrack container image: one fully static binary on scratch (~29 MB).
#
#   docker build -t shiptrack .
#   docker run --rm -p 8080:8080 -v shiptrack-data:/data shiptrack
#
# The release build command (the same on a developer machine with gcc and
# musl-tools; see docs/deploy.md). SQLite's driver is cgo, so the binary is
# linked statically, against musl (smaller than a static glibc and free of
# its NSS caveats), with the C code built for size; netgo and osusergo keep
# the DNS resolver and user lookups in pure Go:
#
#   CC=musl-gcc CGO_CFLAGS='-Os -g0' CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,sqlite_omit_load_extension -ldflags '-s -w -linkmode external -extldflags "-static"' -o shiptrack .
#
# deploy_test.go reads the RUN line below and builds exactly that command, so
# `go test` checks this Dockerfile's build on machines without Docker.

FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CC=musl-gcc CGO_CFLAGS='-Os -g0' CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,sqlite_omit_load_extension -ldflags '-s -w -linkmode external -extldflags "-static"' -o shiptrack .
# Fail the build if the binary is not static or does not run.
RUN ldd shiptrack 2>&1 | grep -q 'not a dynamic executable' && ./shiptrack --help >/dev/null
# What scratch lacks: CA certificates (HTTPS to the weather provider), a
# passwd entry for the unprivileged user, and the SQLite data directory.
RUN mkdir -p /rootfs/etc /rootfs/data && \
    echo 'nonroot:x:65532:65532:nonroot:/data:/sbin/nologin' > /rootfs/etc/passwd && \
    echo 'nonroot:x:65532:' > /rootfs/etc/group

# scratch: the binary and those few files, nothing else (no shell, no
# package manager), so the image is the binary's size plus ~0.2 MB.
FROM scratch
COPY --from=build /rootfs/etc/passwd /rootfs/etc/group /etc/
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chown=65532:65532 /rootfs/data /data
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
