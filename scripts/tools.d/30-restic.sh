# restic at the version the VolSync restic mover image ships (Debian's 0.14 is far older, and
# lacks flags the generated scripts use, such as --retry-lock).
# shellcheck shell=bash
build_restic() { go_install "$1" "github.com/restic/restic/cmd/restic@$2"; }
build_tool restic v0.18.1 build_restic
