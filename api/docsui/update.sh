#!/bin/sh
# Vendors Swagger UI for /docs from its npm package swagger-ui-dist:
#   api/docsui/update.sh 5.35.0
# It keeps only what the page needs: swagger-ui-bundle.js and
# swagger-ui.css, gzip-compressed (gzip -9n: no name or time stamp, so the
# same input gives the same bytes), and the licences. The server embeds the
# .gz files and serves them as they are. init.js is ours and stays.
set -eu
version=${1:?usage: $0 VERSION (the swagger-ui-dist npm version)}
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf "swagger-ui-dist-$version.tgz")
pkg=$tmp/package
for f in swagger-ui-bundle.js swagger-ui.css; do
	gzip -9n -c "$pkg/$f" >"$dir/$f.gz"
	echo "$f: $(wc -c <"$pkg/$f") bytes, $(wc -c <"$dir/$f.gz") gzipped"
done
cp "$pkg/LICENSE" "$pkg/NOTICE" "$pkg/swagger-ui-bundle.js.LICENSE.txt" "$dir/"
printf '%s\n' "$version" >"$dir/VERSION"
