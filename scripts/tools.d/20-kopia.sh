# Kopia at the version the VolSync Kopia fork's mover ships. `go install github.com/kopia/kopia@v0.22.3`
# fails here: go install looks up the module's deprecation through its version list
# (.../@v/list), which the module proxy here answers with 403. So it is built from a wrapper
# module that requires exactly that version; the build list is then kopia's own go.mod (v0.22.3
# has no replace directives to restate). The wrapper makes the main module "wrap", so kopia
# would call itself "v0-unofficial": the version is linked in as kopia's release builds do.
# shellcheck shell=bash
build_kopia() {
  local out=$1 version=$2
  go mod init wrap
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/kopia/kopia"\n' >tools.go
  go get "github.com/kopia/kopia@$version"
  go build -ldflags "-X github.com/kopia/kopia/repo.BuildVersion=$version" -o "$out/kopia" github.com/kopia/kopia
}
build_tool kopia v0.22.3 build_kopia
