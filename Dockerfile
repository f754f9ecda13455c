# Build: docker build -t vigil .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p vigil

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/vigil vigil && mkdir -p /var/lib/vigil /etc/vigil && chown vigil /var/lib/vigil
COPY --from=build /src/target/release/vigil /usr/local/bin/vigil
COPY config/vigil.yaml /etc/vigil/vigil.yaml
USER vigil
EXPOSE 9009
VOLUME /var/lib/vigil
ENTRYPOINT ["/usr/local/bin/vigil"]
CMD ["serve", "--config", "/etc/vigil/vigil.yaml", "--listen", "0.0.0.0:9009", "--data-dir", "/var/lib/vigil"]
