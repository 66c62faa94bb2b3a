#!/bin/sh
# Builds libcurl from Debian's source package of the installed libcurl4 (Debian's patches and
# security fixes, Debian's hardening flags, Debian's CA locations) twice, into a cache directory
# that the build copies them from (cmake/PyhostLeanCurl.cmake):
#   libpyhost-curl.so.4        HTTP and HTTPS over OpenSSL, and nothing else
#   libpyhost-curl-http.so.4   plain HTTP alone, for sinks that need no TLS
# The reporter and the S3 client load one of them in place of Debian's libcurl.so.4.
#
#   cmake/build_lean_curl.sh          build it if it is missing, else do nothing
#
# Why: the reporter loads libcurl on its own thread when a sink is configured, while the
# program runs. Debian's libcurl4 needs 31 libraries (LDAP, Kerberos, SSH, RTMP with GnuTLS,
# IDN, PSL, HTTP/2, brotli, zstd, zlib): mapping and binding them took 4.5 to 7 ms of CPU per
# shipped run here (curl_global_init another 0.6), a fixed cost that a short run pays whole.
# The first needs libssl and libcrypto only: 1.6 to 2 ms, and OpenSSL's initialization 0.8 ms
# more; the second needs the C library alone: 0.13 ms. The sinks speak HTTP/1.1 with the
# bodies pyhost compresses itself; proxies (http_proxy, https_proxy, no_proxy), TLS options
# and client certificates work as with Debian's. What it lacks: HTTP/2, international domain
# names, protocols other than HTTP(S).
#
# The libraries' names differ from libcurl.so.4 (their sonames too): a program that loads
# Debian's libcurl itself (pycurl) must get Debian's, not one of these.
#
# Environment:
#   PYHOST_PGO_CACHE   where built libraries are kept (default /var/cache/pyhost): these go
#                      to $PYHOST_PGO_CACHE/curl-<Debian version>/
#
# Needs root or sudo for apt-get, and Debian's archive. Fails, saying why, rather than build
# anything else: the reporter then loads Debian's libcurl.so.4.
set -eu

. "$(dirname "$0")/debian_source.sh"

version=$(installed_version libcurl4)
[ -n "$version" ] || die "libcurl4 is not installed (cmake/bootstrap.sh installs it)"
cache=${PYHOST_PGO_CACHE:-/var/cache/pyhost}
dest="$cache/curl-$version"
if [ -f "$dest/libpyhost-curl.so.4" ] && [ -f "$dest/libpyhost-curl-http.so.4" ] && [ -f "$dest/BUILD-INFO" ]; then
    say "up to date: $dest/libpyhost-curl.so.4 and libpyhost-curl-http.so.4 (libcurl4 $version)"
    exit 0
fi

started=$(date +%s)
say "building libpyhost-curl.so.4 and libpyhost-curl-http.so.4 from Debian's source of libcurl4 $version into $dest"
install_missing_packages dpkg-dev cmake ninja-build libssl-dev
ensure_deb_src curl "$version"
work="$cache/build-curl-$version"
fresh_work_dir "$work" "$cache"

(cd "$work" && apt-get source --download-only "curl=$version") >"$work/source.log" 2>&1 ||
    die "the archive cannot serve the source of curl=$version: $work/source.log"
(cd "$work" && dpkg-source -x ./*.dsc src) >"$work/extract.log" 2>&1 ||
    die "dpkg-source could not unpack curl=$version: $work/extract.log"
src="$work/src"
source_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
[ "$source_version" = "$version" ] || die "the source in $src is $source_version, not $version"

# debian/rules' flags: all hardening.
flags() { (cd "$src" && DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"); }
cflags="$(flags CPPFLAGS) $(flags CFLAGS)"
ldflags=$(flags LDFLAGS)
# HTTP_ONLY turns every other protocol off; each optional library is off by name. The CA bundle
# and directory are those debian/rules gives its OpenSSL flavour.
common="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
  -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DENABLE_MANUAL=OFF -DPICKY_COMPILER=OFF
  -DCURL_ENABLE_EXPORT_TARGET=OFF -DHTTP_ONLY=ON -DENABLE_THREADED_RESOLVER=ON
  -DUSE_LIBIDN2=OFF -DCURL_USE_LIBPSL=OFF -DCURL_USE_LIBSSH2=OFF -DCURL_USE_GSSAPI=OFF
  -DCURL_ZLIB=OFF -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_NGHTTP2=OFF"
tls="-DCURL_USE_OPENSSL=ON -DCURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt -DCURL_CA_PATH=/etc/ssl/certs"
tmp="$dest.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"

# Builds libcurl as $1.so.4 into $tmp with the options $3, and checks that it has its own
# soname and needs exactly the libraries $2 (sorted, each followed by a space).
variant() {
    name=$1 expected=$2 options="$common $3 -DLIBCURL_OUTPUT_NAME=$1"
    build="$work/build-$name"
    # shellcheck disable=SC2086
    cmake -S "$src" -B "$build" -G Ninja $options -DCMAKE_C_FLAGS="$cflags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
        >"$work/configure-$name.log" 2>&1 || die "configuring $name failed: $work/configure-$name.log"
    ninja -C "$build" >"$work/build-$name.log" 2>&1 || die "building $name failed: $work/build-$name.log"
    library=$(find "$build/lib" -name "$name.so.4.*" -type f | head -n 1)
    [ -n "$library" ] || die "the build left no $name.so.4.*: $work/build-$name.log"
    strip --strip-unneeded -o "$tmp/$name.so.4" "$library"
    readelf -d "$tmp/$name.so.4" | grep -q "Library soname: \[$name.so.4\]" ||
        die "$library does not have the soname $name.so.4"
    needed=$(readelf -d "$tmp/$name.so.4" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
    [ "$needed" = "$expected" ] || die "$library needs $needed, not $expected"
    echo "$name: needs $needed; $(echo $options)" >>"$tmp/BUILD-INFO"
}

echo "libcurl4=$version" >"$tmp/BUILD-INFO"
# HTTP and HTTPS, over OpenSSL; and plain HTTP alone, for sinks that need no TLS.
variant libpyhost-curl "libc.so.6 libcrypto.so.3 libssl.so.3 " "$tls"
variant libpyhost-curl-http "libc.so.6 " "-DCURL_ENABLE_SSL=OFF"
{
    echo "cflags=$cflags"
    echo "ldflags=$ldflags"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "seconds=$(($(date +%s) - started))"
} >>"$tmp/BUILD-INFO"
rm -rf "$dest"
mv "$tmp" "$dest"
rm -rf "$work"
say "done in $(($(date +%s) - started)) s: $dest/libpyhost-curl.so.4 and $dest/libpyhost-curl-http.so.4"
