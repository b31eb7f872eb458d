#!/usr/bin/env bash
# Builds one upstream component from its published Go modules with the local `go` toolchain.
#
#   build.sh COMPONENT VERSION OUTDIR
#
# COMPONENT: kubernetes | e2e-test | test-images | sample-apiserver | etcd | containerd | runc | cni-plugins | crictl | coredns | registry | kube-router | local-path-provisioner | metrics-server | metallb | traefik | pause | probe
# OUTDIR receives the binaries (plain files, named as upstream ships them). The script is
# idempotent: it writes into its own OUTDIR.partial.XXXXXX and renames at the end, so an interrupted
# build leaves nothing that looks finished and concurrent builds of one component do not collide.
# Module and build caches are Go's own (GOMODCACHE, GOCACHE).
# Recipe and pitfalls: shared/notes/build-binaries-from-go-modules.md (wrapper module for projects
# whose go.mod has replace directives; upstream build tags; version stamped via -ldflags).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
component=${1:?component}
version=${2:?version}
out=${3:?outdir}
arch=${GOARCH:-$(go env GOARCH)}

export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOARCH=$arch
work=$(mktemp -d "${TMPDIR:-/tmp}/kubelab-build-$component.XXXXXX")
mkdir -p "$(dirname "$out")"
# Per process: two builds of one component at once (an `up` while `plan` builds) never share it.
partial=$(mktemp -d "$out.partial.XXXXXX")
trap 'rm -rf "$work" "$partial"' EXIT
cd "$work"

log() { printf '[build %s %s] %s\n' "$component" "$version" "$*" >&2; }

# A throw-away module that requires MODULE@VERSION; used where upstream's go.mod has replace
# directives (so `go install pkg@version` refuses it).
wrapper() {
  local module=$1 ver=$2 gomod
  go mod init example.invalid/kubelab-build-"$component" >/dev/null 2>&1
  gomod=$(go mod download -json "$module@$ver" | sed -n 's/.*"GoMod": *"\([^"]*\)".*/\1/p')
  [ -f "$gomod" ] || { log "cannot read go.mod of $module@$ver"; exit 1; }
  local up_go up_godebug
  up_go=$(awk '$1=="go"{print $2; exit}' "$gomod")
  up_godebug=$(awk '$1=="godebug" && $2!="("{print $2}' "$gomod")
  go mod edit -go="$up_go"
  for kv in $up_godebug; do go mod edit -godebug="$kv"; done
  echo "$gomod"
}

# Linker flags stamping a Kubernetes version the way upstream's release build does (`--version`).
k8s_ldflags() {
  local ver=$1 minor=$2 bd ld="-s -w" p
  bd=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld="$ld -X $p.gitVersion=$ver -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld="$ld -X $p.gitTreeState=archive -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=$bd"
  done
  echo "$ld"
}

case "$component" in
kubernetes)
  gomod=$(wrapper k8s.io/kubernetes "$version")
  minor=${version#v1.}; minor=${minor%%.*}
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$gomod")
  for m in $staging; do go mod edit -replace="$m=$m@v0.${version#v1.}"; done
  cmds="kubelet kube-proxy kube-apiserver kube-controller-manager kube-scheduler kubectl"
  pkgs=""; for c in $cmds; do pkgs="$pkgs k8s.io/kubernetes/cmd/$c"; done
  log "resolving modules"
  # shellcheck disable=SC2046
  go get -tool $(for p in $pkgs; do printf '%s@%s ' "$p" "$version"; done) >&2
  go mod tidy >&2
  ld=$(k8s_ldflags "$version" "$minor")
  log "compiling $cmds"
  # shellcheck disable=SC2086
  CGO_ENABLED=0 go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$partial/" $pkgs
  ;;
test-images)
  # What the e2e test images carry from k8s.io/kubernetes itself (test/images/*, main packages of
  # that module: no go.mod of their own), from the same wrapper module as above: agnhost (the
  # suite's all-in-one test server) and nnp (the nonewprivs image's program), static and without
  # cgo as upstream's image-util.sh builds them; beside them the files their Dockerfiles add:
  # agnhost's TLS pair (porter/localhost.{crt,key}) and VERSION, the kitten/nautilus pages.
  gomod=$(wrapper k8s.io/kubernetes "$version")
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$gomod")
  for m in $staging; do go mod edit -replace="$m=$m@v0.${version#v1.}"; done
  log "resolving modules"
  go get -tool "k8s.io/kubernetes/test/images/agnhost@$version" "k8s.io/kubernetes/test/images/nonewprivs@$version" >&2
  go mod tidy >&2
  log "compiling agnhost, nnp"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$partial/agnhost" k8s.io/kubernetes/test/images/agnhost
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$partial/nnp" k8s.io/kubernetes/test/images/nonewprivs
  src=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)/test/images
  install -m 0644 "$src/agnhost/porter/localhost.crt" "$src/agnhost/porter/localhost.key" "$partial/"
  install -m 0644 "$src/agnhost/VERSION" "$partial/agnhost.VERSION"
  for page in kitten nautilus; do
    install -m 0644 "$src/$page/html/$page.jpg" "$partial/$page.jpg"
    install -m 0644 "$src/$page/html/data.json" "$partial/$page.data.json"
  done
  ;;
sample-apiserver)
  # The aggregated API server of the Aggregator conformance test (k8s.io/sample-apiserver, a
  # staging module published without replace directives), as upstream's image Makefile builds it.
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath -ldflags "-s -w" "k8s.io/sample-apiserver@$version"
  ;;
e2e-test)
  # The upstream conformance suite: e2e.test (test/e2e compiled as a test binary) and the ginkgo
  # CLI at the version k8s.io/kubernetes pins. Same wrapper module and version stamp as above.
  gomod=$(wrapper k8s.io/kubernetes "$version")
  minor=${version#v1.}; minor=${minor%%.*}
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\1#p' "$gomod")
  for m in $staging; do go mod edit -replace="$m=$m@v0.${version#v1.}"; done
  ginkgo_v=$(awk '$1=="github.com/onsi/ginkgo/v2"{print $2; exit}' "$gomod")
  [ -n "$ginkgo_v" ] || { log "k8s.io/kubernetes@$version pins no github.com/onsi/ginkgo/v2"; exit 1; }
  log "resolving modules"
  go get "k8s.io/kubernetes@$version" >&2
  printf 'package tools\n\nimport _ "k8s.io/kubernetes/test/e2e"\n' > tools.go
  go mod tidy >&2
  ld=$(k8s_ldflags "$version" "$minor")
  log "compiling e2e.test"
  CGO_ENABLED=0 go test -c -trimpath -tags selinux,grpcnotrace -ldflags "$ld" -o "$partial/e2e.test" k8s.io/kubernetes/test/e2e
  log "compiling ginkgo $ginkgo_v"
  (cd / && CGO_ENABLED=0 GOFLAGS= GOBIN="$partial" go install -trimpath -ldflags "-s -w" "github.com/onsi/ginkgo/v2/ginkgo@$ginkgo_v")
  ;;
etcd)
  wrapper go.etcd.io/etcd/server/v3 "$version" >/dev/null
  go get -tool "go.etcd.io/etcd/server/v3@$version" "go.etcd.io/etcd/etcdctl/v3@$version" >&2
  go mod tidy >&2
  ld="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=gomodule"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$partial/etcd" go.etcd.io/etcd/server/v3
  CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$partial/etcdctl" go.etcd.io/etcd/etcdctl/v3
  ;;
containerd)
  ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$version -X github.com/containerd/containerd/v2/version.Revision=gomodule"
  m=github.com/containerd/containerd/v2/cmd
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath -tags urfave_cli_no_docs -ldflags "$ld" \
    "$m/containerd@$version" "$m/ctr@$version"
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath -tags "urfave_cli_no_docs no_grpc" -ldflags "$ld" \
    "$m/containerd-shim-runc-v2@$version"
  ;;
runc)
  # cgo is required (nsenter); seccomp needs libseccomp-dev. Static so nodes need no libseccomp.
  CGO_ENABLED=1 GOBIN="$partial" go install -trimpath -tags "seccomp urfave_cli_no_docs netgo osusergo" \
    -ldflags "-s -w -extldflags -static" "github.com/opencontainers/runc@$version"
  ;;
cni-plugins)
  p=github.com/containernetworking/plugins/plugins
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath \
    -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$version" \
    "$p/main/bridge@$version" "$p/ipam/host-local@$version" "$p/main/loopback@$version" "$p/meta/portmap@$version"
  ;;
crictl)
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${version#v}" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$version"
  ;;
coredns)
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=gomodule" \
    "github.com/coredns/coredns@$version"
  ;;
registry)
  # The distribution registry (addons.registry); upstream's go.mod has no replace directives.
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath \
    -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$version" \
    "github.com/distribution/distribution/v3/cmd/registry@$version"
  ;;
kube-router)
  # The NetworkPolicy enforcer (network.policy): kubelab runs only its firewall controller
  # (iptables + ipset); upstream's go.mod has no replace directives. Version stamped as upstream's
  # Makefile does.
  m=github.com/cloudnativelabs/kube-router/v2
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath \
    -ldflags "-s -w -X $m/pkg/version.Version=$version -X $m/pkg/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$m/cmd/kube-router@$version"
  ;;
local-path-provisioner)
  # The default StorageClass's provisioner (addons.storage); main package at the module root, no
  # replace directives. Version stamped as upstream's scripts/build does.
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath -ldflags "-s -w -X main.VERSION=$version" \
    "github.com/rancher/local-path-provisioner@$version"
  ;;
metrics-server)
  # Resource metrics for `kubectl top` and HPAs (addons.metricsServer); no replace directives.
  # Version stamped where upstream's Makefile does (client-go's version package).
  v=k8s.io/client-go/pkg/version
  CGO_ENABLED=0 GOBIN="$partial" go install -trimpath \
    -ldflags "-s -w -X $v.gitVersion=$version -X $v.gitCommit=0000000000000000000000000000000000000000 -X $v.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$version"
  ;;
metallb)
  # LoadBalancer Services (addons.loadBalancer): MetalLB's controller and speaker, and upstream's
  # manifest of the same version (its CRDs and RBAC, which the addon applies); no replace
  # directives; the version is in its source (internal/version).
  m=go.universe.tf/metallb
  dir=$(go mod download -json "$m@$version" | sed -n 's/.*"Dir": *"\([^"]*\)".*/\1/p')
  [ -f "$dir/config/manifests/metallb-native.yaml" ] || { log "no config/manifests/metallb-native.yaml in $m@$version"; exit 1; }
  for c in controller speaker; do
    CGO_ENABLED=0 GOBIN="$partial" go install -trimpath -ldflags "-s -w" "$m/$c@$version"
  done
  install -m 0644 "$dir/config/manifests/metallb-native.yaml" "$partial/metallb-native.yaml"
  ;;
traefik)
  # The Ingress controller (addons.ingress). Upstream's go.mod has replace directives, one of them
  # to a directory inside the module, so it is built in a copy of the module itself (its own
  # go.mod and go.sum). Version stamped where upstream's Makefile does.
  m=github.com/traefik/traefik/v3
  dir=$(go mod download -json "$m@$version" | sed -n 's/.*"Dir": *"\([^"]*\)".*/\1/p')
  [ -d "$dir/cmd/traefik" ] || { log "no cmd/traefik in $m@$version"; exit 1; }
  cp -r "$dir" src && chmod -R u+w src
  (cd src && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $m/pkg/version.Version=$version -X $m/pkg/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$partial/traefik" ./cmd/traefik)
  ;;
pause)
  # kubelab's own program (images/pause in this repository), not an upstream module.
  src=$(cd "$here/../../../../images/pause" && pwd)
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$partial/pause" .)
  ;;
probe)
  # kubelab's test workload program (images/probe), for the testbox image.
  src=$(cd "$here/../../../../images/probe" && pwd)
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$partial/probe" .)
  ;;
*)
  log "unknown component"; exit 2 ;;
esac

# Into place with one rename. When OUTDIR exists: a concurrent build that finished first is kept
# (it has every file ours has); an older, incomplete OUTDIR is moved aside and replaced.
if ! mv -T "$partial" "$out" 2>/dev/null; then
  complete=1
  for f in "$partial"/*; do [ -e "$out/${f##*/}" ] || complete=0; done
  if [ "$complete" = 0 ]; then
    old=$(mktemp -d "$out.old.XXXXXX")
    mv -T "$out" "$old/out" 2>/dev/null || true
    mv -T "$partial" "$out" 2>/dev/null || true # else a concurrent build's output is in place
    rm -rf "$old"
  fi
fi
log "done: $(ls "$out" | tr '\n' ' ')"
