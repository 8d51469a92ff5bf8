#!/usr/bin/env bash
# Prints the path of a PgBouncer >= 1.21 (the first with max_prepared_statements, which the
# transaction-mode tests need): the one on PATH if new enough, else one built once from Debian
# trixie's source into a cache outside the clone and reused after. Progress goes to stderr.
#
# The source is fetched with a throwaway apt configuration in a temp dir: the machine's apt
# sources, lists and caches are never touched. Building needs root for apt-get install of the
# build dependencies when they are missing.
set -euo pipefail

MIN_MAJOR=1
MIN_MINOR=21
CACHE="${HAUL_PGBOUNCER_CACHE:-${HOME:-/tmp}/.cache/haul-pgbouncer}"
SUITE="${HAUL_PGBOUNCER_SUITE:-trixie}"
BUILD_DEPS=(gcc make pkg-config libevent-dev libc-ares-dev libssl-dev)

log() { echo "pgbouncer.sh: $*" >&2; }

# True when the binary $1 runs and reports a version >= MIN_MAJOR.MIN_MINOR.
new_enough() {
  local version major minor
  version="$("$1" --version 2>/dev/null | sed -n 's/^PgBouncer \([0-9][0-9.]*\).*/\1/p' | head -n1)"
  [ -n "$version" ] || return 1
  major="${version%%.*}"
  minor="${version#*.}"
  minor="${minor%%.*}"
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

install_build_deps() {
  local missing=()
  for pkg in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing build dependencies: ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# Downloads Debian $SUITE's pgbouncer source package into $1 (apt config confined to $1).
fetch_source() {
  local dir="$1"
  mkdir -p "$dir/sources" "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/src"
  cat >"$dir/sources/src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local opts=(
    -o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$dir/sources"
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
    -o "APT::Sandbox::User=root" -qq
  )
  log "fetching pgbouncer source from Debian $SUITE"
  apt-get "${opts[@]}" update >&2
  (cd "$dir/src" && apt-get "${opts[@]}" source --download-only pgbouncer >&2)
}

# Builds the upstream tarball found in $1/src and installs it into $CACHE.
build() {
  local dir="$1" tarball
  tarball="$(ls "$dir"/src/pgbouncer_*.orig.tar.gz | head -n1)"
  log "building $(basename "$tarball") into $CACHE"
  tar -xzf "$tarball" -C "$dir"
  local srcdir
  srcdir="$(find "$dir" -maxdepth 1 -type d -name 'pgbouncer-*' | head -n1)"
  (cd "$srcdir" && ./configure --prefix="$CACHE" --without-systemd >&2 && make -j"$(nproc)" >&2 \
    && make install >&2)
}

main() {
  local onpath
  if onpath="$(command -v pgbouncer)" && new_enough "$onpath"; then
    echo "$onpath"
    return
  fi
  if [ -x "$CACHE/bin/pgbouncer" ] && new_enough "$CACHE/bin/pgbouncer"; then
    echo "$CACHE/bin/pgbouncer"
    return
  fi
  install_build_deps
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  fetch_source "$TMP"
  build "$TMP"
  new_enough "$CACHE/bin/pgbouncer" || { log "the built pgbouncer is older than 1.$MIN_MINOR"; exit 1; }
  echo "$CACHE/bin/pgbouncer"
}

main "$@"
