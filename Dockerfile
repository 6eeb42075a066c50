# dsr in a container: built with the locked dependencies, run as a non-root user on a slim
# Debian with nothing but the binary and the CA certificates.
#
#   docker build -t registry.example/dsr:0.1.0 .
#   docker run --rm -v "$PWD:/work" -w /work registry.example/dsr:0.1.0 validate dsr.yaml

ARG RUST_VERSION=1.89
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin dsr

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/dsr dsr
COPY --from=builder /src/target/release/dsr /usr/local/bin/dsr
# The same uid as `runAsUser` in the README's Kubernetes examples.
USER 10001:10001
WORKDIR /home/dsr
ENTRYPOINT ["dsr"]
CMD ["--help"]
