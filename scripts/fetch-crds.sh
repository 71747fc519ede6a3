#!/usr/bin/env bash
# Downloads the CRD schemas the tests validate against, at the versions pinned in
# ../shared/crds/SOURCES.md, for machines without ../shared (e.g. GitHub-hosted runners).
# Usage: scripts/fetch-crds.sh [DIR]   (default: ./crds; then export HOMELAB_CRDS_DIR=DIR)
set -euo pipefail
dir="${1:-crds}"
fetch() { # fetch <folder> <repository> <ref> <path>
  mkdir -p "$dir/$1"
  curl -fsSL "https://raw.githubusercontent.com/$2/$3/$4" -o "$dir/$1/$(basename "$4")"
}
fetch volsync backube/volsync v0.16.0 config/crd/bases/volsync.backube_replicationsources.yaml
fetch volsync backube/volsync v0.16.0 config/crd/bases/volsync.backube_replicationdestinations.yaml
fetch volsync-kopia perfectra1n/volsync v0.17.11 config/crd/bases/volsync.backube_replicationsources.yaml
fetch volsync-kopia perfectra1n/volsync v0.17.11 config/crd/bases/volsync.backube_replicationdestinations.yaml
fetch volsync-kopia perfectra1n/volsync v0.17.11 config/crd/bases/volsync.backube_kopiamaintenances.yaml
fetch snapscheduler backube/snapscheduler v3.5.0 config/crd/bases/snapscheduler.backube_snapshotschedules.yaml
for crd in clusters scheduledbackups backups; do
  fetch cnpg cloudnative-pg/cloudnative-pg v1.30.0 "config/crd/bases/postgresql.cnpg.io_${crd}.yaml"
done
fetch cnpg-pgbackrest dalibo/cnpg-plugin-pgbackrest v0.0.3 config/crd/bases/pgbackrest.dalibo.com_stanzas.yaml
fetch cnpg-pgbackrest dalibo/cnpg-plugin-pgbackrest v0.0.3 config/crd/bases/pgbackrest.dalibo.com_pluginconfigs.yaml
for crd in externalsecrets clustersecretstores secretstores pushsecrets; do
  fetch external-secrets external-secrets/external-secrets v2.9.0 "config/crds/bases/external-secrets.io_${crd}.yaml"
done
fetch external-secrets external-secrets/external-secrets v2.9.0 config/crds/bases/generators.external-secrets.io_passwords.yaml
echo "CRDs in $dir; export HOMELAB_CRDS_DIR=$(cd "$dir" && pwd)"
