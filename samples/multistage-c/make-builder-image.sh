#!/bin/sh
# Make the Debian 12 image with gcc that the build stage uses (slow: downloads ~100 MB of
# packages from the Debian mirror with debootstrap). Run as root. Usage:
#   samples/multistage-c/make-builder-image.sh [TAG]   (default debian-gcc:12)
set -eu
tag=${1:-debian-gcc:12}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include=gcc,libc6-dev bookworm "$work/rootfs" http://deb.debian.org/debian
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
pallet import "$work/rootfs.tar" "$tag"
