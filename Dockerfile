# syntax=docker/dockerfile:1
# One build of the workspace, three small runtime images (one per target):
#   docker build --target activities -t cruddur-activities .
# BuildKit cache mounts keep the cargo registry and target directory between
# builds, so a code change recompiles the workspace, not its dependencies.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin activities --bin users --bin notifications \
    && mkdir -p /out \
    && cp target/release/activities target/release/users target/release/notifications /out/

# glibc, libgcc and CA certificates; no shell, no package manager, no compiler.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /home/nonroot
# 65532 is distroless's `nonroot`.
USER 65532:65532
# glibc's malloc raises its mmap threshold each time it frees a large block
# (the span export batches, ~190 KB) and then lets every thread's arena
# keep twice that free; fixed at its default, 128 KiB, a service under
# load with every exporter on holds ~1.5 MiB less (scripts/bench, which
# runs the services with it too).
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072

FROM runtime AS activities
COPY --from=build /out/activities /usr/local/bin/activities
ENV PORT=4567
EXPOSE 4567
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/usr/local/bin/activities", "health-check"]
ENTRYPOINT ["/usr/local/bin/activities"]

FROM runtime AS users
COPY --from=build /out/users /usr/local/bin/users
ENV PORT=4568
EXPOSE 4568
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/usr/local/bin/users", "health-check"]
ENTRYPOINT ["/usr/local/bin/users"]

FROM runtime AS notifications
COPY --from=build /out/notifications /usr/local/bin/notifications
ENV PORT=4569
EXPOSE 4569
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["/usr/local/bin/notifications", "health-check"]
ENTRYPOINT ["/usr/local/bin/notifications"]
