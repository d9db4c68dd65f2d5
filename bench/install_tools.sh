#!/usr/bin/env sh
# The load generators bench/run_all.py drives: wrk (REST) and h2load (gRPC, from Debian's
# nghttp2-client), and ss (iproute2), which the revocation lag asks which worker holds each
# probe's connection. Installs them with apt-get when missing (as root, as on CI); does
# nothing when all three are on PATH.
set -eu
command -v wrk >/dev/null 2>&1 && command -v h2load >/dev/null 2>&1 \
    && command -v ss >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bench/install_tools.sh: need wrk, h2load and ss; install them (Debian: apt-get install wrk nghttp2-client iproute2)" >&2
    exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk nghttp2-client iproute2
