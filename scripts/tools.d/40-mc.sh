# The MinIO client: the tests create buckets, retention rules, users and policies with it, and
# read, write and delete objects and versions with it. The version MinIO's own go.mod requires,
# so the two speak the same admin API. Registered last: it usually starts once the MinIO build
# has filled the build cache with the many packages the two share.
# shellcheck shell=bash
build_mc() { go_install "$1" "github.com/minio/mc@$2"; }
build_tool mc v0.0.0-20250313080218-cf909e1063a9 build_mc
