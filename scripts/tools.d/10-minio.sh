# MinIO, the S3 server of the tests (versioning, object lock with governance and compliance
# retention, per-user IAM policies): the tests start it on loopback. A pseudo-version: the
# module proxy serves MinIO's commits, not its RELEASE tags (RELEASE.2026-... is not a semantic
# version), so `minio --version` reads DEVELOPMENT.GOGET; `go version -m` shows the commit.
# Registered first: it is the longest build (about half of a cold run), so it starts at once.
# shellcheck shell=bash
build_minio() { go_install "$1" "github.com/minio/minio@$2"; }
build_tool minio v0.0.0-20260212201848-7aac2a2c5b7c build_minio
