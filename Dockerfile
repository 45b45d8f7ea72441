# The kfcheck release image: the CLI and the in-container probe (`kfcheck probe ...`).
#   docker build -t kfcheck:VERSION .
# Runs as a non-root user; NVML is loaded at run time from the driver that the NVIDIA runtime
# mounts, so the same image serves CPU and GPU steps. For a local image without any registry
# (these development machines cannot pull), use scripts/probe-image instead.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/kfcheck

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/kfcheck /usr/local/bin/kfcheck
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kfcheck"]
CMD ["probe", "env"]
