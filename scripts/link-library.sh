#!/usr/bin/env bash
# Links libcharrnn.so.MAJOR.MINOR.PATCH from the objects of SwiftPM's static `charrnn` product, as a C
# library is shipped: the Swift runtime and Foundation inside (C programs need no Swift toolchain),
# the SONAME libcharrnn.so.MAJOR, and only the functions include/charrnn.h declares exported, under
# the version node CHARRNN_<MAJOR> (a linker version script generated from the header). Then the
# links libcharrnn.so.MAJOR and libcharrnn.so beside it.
#
# usage: scripts/link-library.sh BUILD_DIR [extra swiftc flags...]
#   BUILD_DIR is a SwiftPM configuration folder that built the product (.build/release).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$1"
shift
header="$root/include/charrnn.h"
version="$(sed -n 's/^#define CHARRNN_VERSION_STRING "\(.*\)"$/\1/p' "$header")"
major="${version%%.*}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "link-library: no CHARRNN_VERSION_STRING in $header" >&2; exit 1; }
objects="$build/charrnn.product/Objects.LinkFileList"
[ -f "$objects" ] || { echo "link-library: $objects is missing: build the product first (swift build --product charrnn)" >&2; exit 1; }

# Every prototype in the header starts its line with CHARRNN_API and names its function before '('.
map="$build/charrnn.map"
{
  echo "CHARRNN_$major {"
  echo "  global:"
  sed -n 's/^CHARRNN_API .*[ *]\(charrnn_[a-z0-9_]*\)(.*/    \1;/p' "$header"
  echo "  local: *;"
  echo "};"
} > "$map.tmp"
mv "$map.tmp" "$map"

library="libcharrnn.so.$version"
swiftc -emit-library -static-stdlib -o "$build/$library.tmp" @"$objects" "$@" \
  -Xlinker --gc-sections -Xlinker -soname="libcharrnn.so.$major" -Xlinker --version-script="$map" \
  $(pkg-config --libs openblas) -l_FoundationCollections -l_FoundationCShims -lswiftSynchronization \
  2> >(grep -v "the use of .mktemp. is dangerous" >&2)
mv "$build/$library.tmp" "$build/$library"
ln -sfn "$library" "$build/libcharrnn.so.$major"
ln -sfn "libcharrnn.so.$major" "$build/libcharrnn.so"
echo "linked $build/$library (SONAME libcharrnn.so.$major, $(grep -c "^    charrnn_" "$map") functions exported)"
