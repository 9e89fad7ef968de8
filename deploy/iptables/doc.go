// Package iptables writes the traffic-capture rules of an Isthmus or Istio
// sidecar (istio-iptables' REDIRECT mode) and installs them. The rules are
// one iptables-restore input for the nat table, so they load atomically;
// `isthmus capture` (the init container Isthmus injects) and the capture
// end-to-end test load the same text.
//
// Contract:
//   - Rules is a pure function of Options. With the zero Options it is
//     what istio-iptables writes by default: inbound TCP redirected to
//     InboundCapturePort except the proxy's own ports (DefaultExcludedInbound),
//     outbound TCP redirected to OutboundCapturePort except traffic of the
//     proxy's uid and gid (ProxyUID), traffic to 127.0.0.1 and pass-through
//     connections from 127.0.0.6; connections the proxy makes to its own
//     pod IP over lo go to the inbound port.
//   - Options narrow capture as Istio's traffic.sidecar.istio.io
//     annotations do: InboundPorts "*" (or empty, the default) captures
//     every inbound port but the excluded ones, a list captures only those
//     ports, "-" captures none; ExcludeOutboundPorts and
//     ExcludeOutboundCIDRs are never redirected. Parse reads the
//     annotations' syntax and reports a bad port or CIDR naming the
//     annotation.
//   - Install loads rules with iptables-restore, trying Debian's
//     nf_tables command, then the legacy one; its error names every
//     command tried.
package iptables
