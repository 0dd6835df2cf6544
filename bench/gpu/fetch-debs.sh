#!/usr/bin/env bash
# Downloads the Debian 12 packages the GPU machine lacks (it has no apt and no network) into
# .debs/ (ignored by git) for bench/gpu/run.sh to unpack there.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .debs && cd .debs
apt-get download libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 \
    libnuma-dev libnuma1 libgomp1
ls -la
