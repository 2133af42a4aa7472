#!/bin/sh
# Runs `systemd-analyze verify` on the broker's units as configured for the
# build tree (ExecStart points at the built binary). Usage: verify_units.sh DIR
set -eu
dir=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$dir/shmreg-broker.service" "$work/"
# A template unit is verified through an instance of it.
cp "$dir/shmreg-broker@.service" "$work/shmreg-broker@ci.service"
systemd-analyze verify "$work/shmreg-broker.service" "$work/shmreg-broker@ci.service"
echo "units verified"
