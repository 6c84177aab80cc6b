#!/usr/bin/env bash
# Installs the build into a prefix, then builds and runs a consumer through pkg-config and through
# find_package(mbridge). usage: test_install.sh BUILD_DIR THIS_DIR SCRATCH_DIR
set -eu
BUILD="$1"; HERE="$2"; T="$3"
rm -rf "$T" && mkdir -p "$T"
cmake --install "$BUILD" --prefix "$T/prefix" >/dev/null
test -x "$T/prefix/bin/mbridge"
test -f "$T/prefix/include/mbridge.h"
libdir=$(ls -d "$T"/prefix/lib*/pkgconfig | head -1); libdir=$(dirname "$libdir")
test -f "$libdir/libmbridge.a"

# pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc "$HERE/consumer.c" -o "$T/consumer_pc" $(pkg-config --cflags --libs mbridge) -Wl,-rpath,"$libdir"
"$T/consumer_pc"
# the static library with the dependencies mbridge.pc lists for it: the Requires.private modules (linked as
# shared libraries: `pkg-config --static` would also want their own static dependencies, which Debian's libcurl
# does not ship) and Libs.private. A module missing from the list is a link error here.
requires=$(pkg-config --print-requires-private mbridge | awk '{print $1}')
libs_private=$(sed -n 's/^Libs.private: //p' "$libdir/pkgconfig/mbridge.pc")
cc "$HERE/consumer.c" -o "$T/consumer_pc_static" $(pkg-config --cflags mbridge) "$libdir/libmbridge.a" \
   $(pkg-config --libs $requires) $libs_private
"$T/consumer_pc_static"

# CMake package
cmake -S "$HERE" -B "$T/cmake_consumer" -DCMAKE_PREFIX_PATH="$T/prefix" -DCMAKE_BUILD_RPATH="$libdir" >/dev/null
cmake --build "$T/cmake_consumer" >/dev/null
"$T/cmake_consumer/consumer"
"$T/cmake_consumer/consumer_static"
echo "install: pkg-config and CMake consumers work, shared and static"
