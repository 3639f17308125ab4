#!/bin/sh
# Vendors RapiDoc's browser bundle for /docs from its npm package:
#   api/docsui/update.sh 9.3.8
# It keeps only what the page needs: rapidoc-min.js, gzip-compressed
# (gzip -9n: no name or time stamp, so the same input gives the same bytes),
# and the licences. The server embeds the .gz and serves it as is.
set -eu
version=${1:?usage: $0 VERSION (the rapidoc npm version)}
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "rapidoc@$version" >/dev/null && tar xzf "rapidoc-$version.tgz")
pkg=$tmp/package
gzip -9n -c "$pkg/dist/rapidoc-min.js" >"$dir/rapidoc-min.js.gz"
cp "$pkg/LICENSE.txt" "$dir/LICENSE.txt"
cp "$pkg/dist/rapidoc-min.js.LICENSE.txt" "$dir/rapidoc-min.js.LICENSE.txt"
printf '%s\n' "$version" >"$dir/VERSION"
echo "rapidoc $version: $(wc -c <"$pkg/dist/rapidoc-min.js") bytes, $(wc -c <"$dir/rapidoc-min.js.gz") gzipped"
