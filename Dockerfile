# luau-exec as a container: a static musl binary on an empty image.
#
# The release workflow publishes this image prebuilt (multi-arch, to GHCR) and pins the
# action to it by digest; building from this file is the path for forks and for `uses: ./`.

# The builder: Rust on Alpine links musl statically by default. g++ builds the embedded
# emulator's Luau VM (mlua, vendored); make and perl serve the TLS crate's build script.
FROM rust:1.88-alpine AS build
# Exact apk versions vanish from Alpine's mirrors when the release moves on; the base image tag
# pins the Alpine release, which is what keeps this reproducible enough.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev g++ make perl
WORKDIR /src
# Set to "" to leave the embedded emulator (backend: local, serve) out of the image.
ARG CARGO_FEATURES=emulator
COPY Cargo.toml Cargo.lock ./
# Build settings (Luau built without its internal assertions, jemalloc with one arena).
COPY .cargo ./.cargo
# jemalloc, the musl binary's allocator, is built for the build machine's page size and refuses
# to start under a larger one: arm64 Linux kernels use 4, 16 or 64 KiB pages, so the arm64
# binary is built for 64 KiB (2^16), which runs under all three.
ARG TARGETARCH
COPY src ./src
COPY benches ./benches
COPY tests ./tests
# The musl target links statically by default (setting crt-static in RUSTFLAGS would break
# proc-macro builds on a musl host). The binary must run on its own before it is shipped:
# --version, a whole run on the emulator when present, and a run that hits its deadline (a
# Luau error raised through the VM's Rust callbacks must end as exit 3, not abort the process).
RUN if [ "${TARGETARCH}" = arm64 ]; then export JEMALLOC_SYS_WITH_LG_PAGE=16; fi \
    && cargo build --release --locked --no-default-features --features "${CARGO_FEATURES}" \
    && cp target/release/luau-exec /luau-exec \
    && /luau-exec --version \
    && if [ -n "${CARGO_FEATURES}" ]; then \
         /luau-exec --backend local --script "return 1" \
         && { /luau-exec --backend local --timeout 1 --script "while true do end"; test $? -eq 3; }; \
       fi

# The release binary alone, for `docker buildx build --target binary --output type=local,dest=…`:
# the release workflow packs it as the Linux assets that rokit, aftman and foreman install.
FROM scratch AS binary
COPY --from=build /luau-exec /luau-exec

# The job image: the same binary on Alpine, with a shell, for CIs that run a job *in* an image
# (GitLab's `image:`, Buildkite, CircleCI) and have no Docker-in-Docker. Published as the `-job`
# tags. It sits before the final stage, because `docker build .` (and the action's
# `image: Dockerfile`) builds the last one.
FROM alpine:3.20 AS job
COPY --from=build /luau-exec /usr/local/bin/luau-exec
ENTRYPOINT []
CMD ["luau-exec", "--help"]

# The image: the binary and nothing else. TLS roots are compiled in (webpki roots), so no CA
# bundle is needed. No USER (GitHub runs container actions as root and mounts its command
# files for root) and no WORKDIR (GitHub mounts the workspace and sets it).
FROM scratch
COPY --from=build /luau-exec /luau-exec
ENTRYPOINT ["/luau-exec"]
