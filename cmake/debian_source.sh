# Shared by the scripts that build a library from Debian's source package of an installed
# package (cmake/build_pgo_python.sh, cmake/build_lean_curl.sh). Sourced, not run, right after
# `set -eu`: messages are prefixed with the script's name.

script_name=$(basename "$0" .sh)
say() { echo "$script_name: $*" >&2; }
die() {
    echo "$script_name: error: $*" >&2
    exit 1
}

sudo=""  # "" as root, else "sudo" for what needs root
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# Makes $1 an empty directory under the cache directory $2 (both created as root when need
# be, then handed to the user running the script).
fresh_work_dir() {
    $sudo mkdir -p "$2"
    $sudo rm -rf "$1"
    $sudo mkdir -p "$1"
    [ "$(id -u)" -eq 0 ] || $sudo chown "$(id -u):$(id -g)" "$2" "$1"
}

# The installed version of package $1, or nothing.
installed_version() {
    dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^installed //p'
}

# Installs those of the packages named in $* that are missing.
install_missing_packages() {
    missing=""
    for package in "$@"; do
        [ -n "$(installed_version "$package")" ] || missing="$missing $package"
    done
    [ -z "$missing" ] && return 0
    say "installing the build dependencies:$missing"
    $sudo apt-get update
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
}

# Makes `apt-get source $1=$2` possible. It needs deb-src entries, which Debian 12 images
# lack: they are added for the same archive and suites as the deb entries of
# /etc/apt/sources.list.d/debian.sources. Says so when the archive lists no such source.
ensure_deb_src() {
    if apt-get source --print-uris "$1=$2" >/dev/null 2>&1; then
        return 0
    fi
    list=/etc/apt/sources.list.d/pyhost-deb-src.sources
    if [ ! -f "$list" ]; then
        [ -f /etc/apt/sources.list.d/debian.sources ] ||
            die "apt has no source for $1=$2 and there is no /etc/apt/sources.list.d/debian.sources to derive deb-src entries from: add deb-src entries for Debian's archive and security archive"
        say "adding deb-src entries: $list"
        sed 's/^Types: *deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $sudo tee "$list" >/dev/null
    fi
    $sudo apt-get update
    apt-get source --print-uris "$1=$2" >/dev/null 2>&1 ||
        say "Debian's archive lists no source package $1=$2"
}
