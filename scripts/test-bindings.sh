#!/usr/bin/env bash
# The bindings against an installed mbridge: the C example in docs/examples, the Rust crate (cargo test)
# and the Go package (go vet, go test), all on the committed fixtures. The build is installed into a
# prefix under the build folder and found through pkg-config, as a user of the library would find it.
# usage: scripts/test-bindings.sh [BUILD_DIR]   (default build/, made by scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
BUILD="$(cd "${1:-build}" && pwd)"
T="$BUILD/bindings"
mkdir -p "$T"
rm -rf "$T/prefix" "$T/c-out"
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
libdir=$(dirname "$(ls -d "$T"/prefix/lib*/pkgconfig | head -1)")
export PKG_CONFIG_PATH="$libdir/pkgconfig"
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"  # for the Go test binaries
export PATH="$PATH:$HOME/.cargo/bin:/usr/lib/go-1.19/bin"               # rustup's and Debian's locations

echo "== bindings: C example (docs/examples/quickstart.c)"
cc -std=c11 -Wall -Wextra -Werror -pedantic docs/examples/quickstart.c -o "$T/quickstart" \
   $(pkg-config --cflags --libs mbridge) -Wl,-rpath,"$libdir"
"$T/quickstart" tests/fixtures/bridge/hf/llama2 "$T/c-out"

echo "== bindings: Rust (cargo test)"
(cd bindings-rust && CARGO_TARGET_DIR="$T/cargo" cargo test --offline --quiet)

echo "== bindings: Go (go vet, go test)"
export GOFLAGS=-mod=mod GOPROXY=off GOCACHE="${GOCACHE:-$T/go-cache}"
(cd bindings-go && go version && go vet ./... && go test -count=1 ./...)
echo "== bindings passed"
