#!/usr/bin/env bash
# Fresh Debian 12 -> built ferry, the o200k vocabulary, a tiny synthetic model, and a first run.
#   bash tools/setup.sh            (installs packages with apt-get; run as root or with sudo)
#   FERRY_NO_APT=1 bash tools/setup.sh   skips apt-get
#   FERRY_NO_RUN=1 bash tools/setup.sh   stops after building and generating the model
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${FERRY_NO_APT:-}" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    pkgs="build-essential meson ninja-build pkg-config libpcre2-dev libnuma-dev python3-numpy tmux
          ca-certificates librsvg2-bin libmicrohttpd-dev libcjson-dev libedit-dev curl chromium"
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
    echo "setup: installing Debian packages: $(echo $pkgs)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $pkgs >/dev/null
fi

bash tools/setup-vocab.sh data

if [ ! -f build/build.ninja ]; then
    meson setup build
fi
ninja -C build

mkdir -p models
if [ ! -f models/tiny.gguf ]; then
    build/ferry synth --preset tiny --seed 1 -o models/tiny.gguf
fi
[ -n "${FERRY_NO_RUN:-}" ] && exit 0

echo "setup: greedy generation on models/tiny.gguf (random weights, so the ids are arbitrary):"
build/ferry run -m models/tiny.gguf --tokens 200006,1428,200008,13225,5922 -n 16
