#!/usr/bin/env bash
# dagster-dev.local/dagster: Debian bookworm's python3 with the pinned Dagster
# packages in a virtualenv, installed from wheels downloaded on the host
# (no network in the build). A drop-in for dagster/dagster-celery-k8s:
# dagster, dagster-webserver, dagster-daemon, dagster-graphql, dagster-celery
# and celery on PATH (also linked into /usr/local/bin), DAGSTER_HOME
# /opt/dagster/dagster_home.
. "$BUILDERS/lib.sh"
need ROOT ROOTFS_TAR WHEELS
extract_rootfs "$ROOTFS_TAR" "$ROOT"
mkdir -p "$ROOT/tmp/wheels"
cp "$WHEELS"/*.whl "$WHEELS/requirements.txt" "$ROOT/tmp/wheels/"
mount_chroot "$ROOT"
chroot "$ROOT" /bin/bash -euo pipefail -c '
  venv=/opt/dagster/venv
  python3 -m venv "$venv"
  "$venv/bin/pip" install --no-index --find-links /tmp/wheels --no-cache-dir --disable-pip-version-check \
    -r /tmp/wheels/requirements.txt
  "$venv/bin/pip" check
  # entry points also where images built on python:3 put them
  for f in "$venv"/bin/*; do
    n=$(basename "$f")
    case "$n" in activate*|Activate*|pip*|python*) continue ;; esac
    [ -x "$f" ] && [ ! -e "/usr/local/bin/$n" ] && ln -s "$f" "/usr/local/bin/$n"
  done
  mkdir -p /opt/dagster/dagster_home /opt/dagster/app
  for c in dagster dagster-webserver dagster-daemon dagster-graphql dagster-celery celery; do
    command -v "$c" >/dev/null || { echo "$c missing" >&2; exit 1; }
  done
  "$venv/bin/python3" -c "import dagster_celery_k8s, dagster_k8s, dagster_postgres, dagster_celery; print(\"imports ok\")"
  "$venv/bin/dagster" --version
'
umount_chroot
rm -rf "$ROOT/tmp/wheels"
