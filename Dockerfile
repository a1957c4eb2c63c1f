# The runtime image: swift-lxcfs built with a static Swift standard library
# on a slim Debian that carries only libfuse3 and fusermount3.
#
#   docker build -t swift-lxcfs .
#   docker run -d --privileged --pid=host --cgroupns=host \
#     -v /sys/fs/cgroup:/sys/fs/cgroup \
#     -v /var/lib/lxcfs:/var/lib/lxcfs:rshared swift-lxcfs
#
# SWIFT_IMAGE and RUNTIME_IMAGE can name local images (see README.md).
ARG SWIFT_IMAGE=swift:6.1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libfuse3-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib \
    && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/swift-lxcfs" /out/swift-lxcfs \
    && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/swift-lxcfs-webhook" /out/swift-lxcfs-webhook

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libfuse3-3 fuse3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/swift-lxcfs /usr/local/bin/swift-lxcfs
# `swift-lxcfs webhook` (deploy/kubernetes/webhook.yaml) runs this program.
COPY --from=build /out/swift-lxcfs-webhook /usr/local/bin/swift-lxcfs-webhook
# The supervisor runs the daemon and holds its FUSE connection, so that a
# crash of the daemon does not take the mount down; SIGHUP restarts the
# daemon without unmounting. It runs in the foreground, reads nothing from
# standard input and stops (unmounting) on SIGTERM. A newer image takes over
# a running one with `supervise --takeover` (README.md, "Running it with Docker").
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/swift-lxcfs"]
CMD ["supervise", "--pidfile", "/run/swift-lxcfs.pid", "--enable-cfs", "-l", "/var/lib/lxcfs"]
