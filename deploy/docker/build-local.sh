#!/usr/bin/env bash
# Builds the tix image without a Docker engine and without a registry:
# Debian's buildah with `--isolation chroot`, from a bookworm base made here by
# mmdebstrap (from Debian's apt archive), then checks that the image runs.
#
# Usage: deploy/docker/build-local.sh [--tag NAME] [--archive FILE]
#   --tag NAME      image name in buildah's local storage (default localhost/tix:dev)
#   --archive FILE  also write the image as an OCI archive (for `kind load
#                   image-archive`, `skopeo copy`, `podman load`)
# Environment:
#   TIX_ALLOW_MISSING=1  build even if some tix program is not in the tree yet
#   TIX_BASE_DIR         where the mmdebstrap base tarball is kept
#                        (default /var/tmp/tix-image; reused on later runs)
# Runs as root (buildah's chroot isolation and mmdebstrap need it here).
set -euo pipefail

cd "$(dirname "$0")/../.."
tag=localhost/tix:dev
archive=
while [ $# -gt 0 ]; do
    case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --archive) archive="$2"; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-local: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "build-local: run as root" >&2
    exit 1
fi

start=$(date +%s)
say() { echo "build-local: [$(($(date +%s) - start))s] $*"; }

need=
command -v buildah >/dev/null || need="$need buildah"
command -v mmdebstrap >/dev/null || need="$need mmdebstrap"
if [ -n "$need" ]; then
    say "installing$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q $need >/dev/null
fi

# One base for both stages: a bookworm minbase with the same path excludes as
# the official -slim image (no man pages, docs or locales), its apt sources
# pointing at Debian's archive. The Dockerfile's defaults (debian:bookworm and
# debian:bookworm-slim from a registry) are replaced through build args.
base=localhost/tix-bookworm-base:local
base_dir=${TIX_BASE_DIR:-/var/tmp/tix-image}
if ! buildah images -q "$base" >/dev/null 2>&1; then
    mkdir -p "$base_dir"
    if [ ! -s "$base_dir/bookworm.tar" ]; then
        say "mmdebstrap: making the bookworm base"
        mmdebstrap --quiet --variant=minbase --include=ca-certificates \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-exclude=/usr/share/info/*' \
            bookworm "$base_dir/bookworm.part.tar" \
            "deb http://deb.debian.org/debian bookworm main" \
            "deb http://deb.debian.org/debian bookworm-updates main" \
            "deb http://deb.debian.org/debian-security bookworm-security main"
        mv "$base_dir/bookworm.part.tar" "$base_dir/bookworm.tar"
    fi
    say "importing the base into buildah's storage as $base"
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$base_dir/bookworm.tar" / >/dev/null
    buildah config --cmd /bin/bash "$ctr"
    buildah commit --quiet "$ctr" "$base" >/dev/null
    buildah rm "$ctr" >/dev/null
fi

say "buildah bud --isolation chroot -> $tag"
buildah bud --isolation chroot --pull=never --layers \
    --file deploy/docker/Dockerfile \
    --ignorefile deploy/docker/Dockerfile.dockerignore \
    --build-arg BUILDER_IMAGE="$base" \
    --build-arg RUNTIME_IMAGE="$base" \
    --build-arg TIX_ALLOW_MISSING="${TIX_ALLOW_MISSING:-0}" \
    --build-arg TIX_GIT_SHA="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --tag "$tag" .

# Smoke test: every program in the image starts (as the image's user, 10001)
# and answers --help, i.e. its shared libraries resolve.
say "smoke test: each program answers --help as uid 10001"
ctr=$(buildah from --pull=never "$tag")
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
user=$(buildah inspect --format '{{.OCIv1.Config.User}}' "$tag")
[ "$user" = "10001:10001" ] || { echo "build-local: image user is '$user', want 10001:10001" >&2; exit 1; }
progs=$(buildah run --isolation chroot "$ctr" -- sh -c 'ls /usr/local/bin')
for p in $progs; do
    buildah run --isolation chroot "$ctr" -- "$p" --help >/dev/null ||
        { echo "build-local: '$p --help' failed in the image" >&2; exit 1; }
    echo "  $p --help: ok"
done
[ "$(buildah run --isolation chroot "$ctr" -- id -u)" = 10001 ] ||
    { echo "build-local: programs do not run as uid 10001" >&2; exit 1; }

if [ -n "$archive" ]; then
    say "writing $archive"
    buildah push --quiet "$tag" "oci-archive:$archive:${tag##*/}"
fi
say "done: $tag ($(buildah images --format '{{.Size}}' "$tag")), programs: $(tr '\n' ' ' <<<"$progs")"
