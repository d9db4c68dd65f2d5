#!/bin/sh
# Makes the image the Containerfile builds FROM where no registry serves python:3.11-slim:
# a minimal Debian (debootstrap's minbase) with Debian's Python 3.11 and venv, imported into
# podman as $1 (localhost/authgate-base:<hash of this script>, so a change here makes a new one).
set -eu
image=$1
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$(mktemp -d "${TMPDIR:-/tmp}/authgate-base.XXXXXX")
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$root" "$mirror"
# What a container never reads: package caches and lists, manuals, translations.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
tar --numeric-owner -C "$root" -c . |
    podman import --change 'CMD ["/usr/bin/python3"]' - "$image"
