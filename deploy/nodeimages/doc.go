// Package nodeimages builds the container images that pods on
// deploy/kubeharness's nodes run, without a registry or a container daemon
// (go-containerregistry, as deploy/image does for the Isthmus image), each
// written as a docker-archive tarball that `ctr images import` loads:
//
//   - Pause (PauseRef, registry.k8s.io/pause:3.10, the tag containerd's
//     sandbox_image names): the static Go program in ./pause.
//   - DemoApp (DemoAppRef): the static HTTP app of deploy/demoapp, which
//     answers with its identity and echoes the caller's
//     X-Forwarded-Client-Cert.
//   - Sidecar (SidecarRef): Envoy (a glibc binary, so the libraries `ldd`
//     names are layered at the paths it names), the static isthmus binary,
//     and iptables-restore / iptables-save (Debian's nf_tables multi-call
//     binary with its libraries and extension modules), so an injected
//     init container can install the traffic-capture rules from the same
//     image as the proxy.
//
// Contract: Go programs are compiled from this module by the go command on
// PATH (CGO_ENABLED=0, GOOS=linux, the host's GOARCH, -trimpath), so the
// builders run inside the repository; host files (Envoy, iptables) are
// copied as they are, so the sidecar image runs on a node of the host's
// architecture and libc (what kubeharness's nodes are). Image content and
// file times are fixed (the Unix epoch), so the same inputs give the same
// image.
package nodeimages
