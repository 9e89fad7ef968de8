package iptables

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The pod annotations that narrow capture, as Istio names them.
const (
	AnnotationIncludeInboundPorts     = "traffic.sidecar.istio.io/includeInboundPorts"
	AnnotationExcludeInboundPorts     = "traffic.sidecar.istio.io/excludeInboundPorts"
	AnnotationExcludeOutboundPorts    = "traffic.sidecar.istio.io/excludeOutboundPorts"
	AnnotationExcludeOutboundIPRanges = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
)

// FromAnnotations reads the capture annotations of a pod; an error names
// the annotation and the bad value.
func FromAnnotations(annotations map[string]string) (Options, error) {
	var o Options
	var err error
	if v, ok := annotations[AnnotationIncludeInboundPorts]; ok {
		if o.InboundPorts, err = ParseInboundPorts(v); err != nil {
			return o, fmt.Errorf("annotation %s: %w", AnnotationIncludeInboundPorts, err)
		}
	}
	if o.ExcludeInboundPorts, err = ParsePorts(annotations[AnnotationExcludeInboundPorts]); err != nil {
		return o, fmt.Errorf("annotation %s: %w", AnnotationExcludeInboundPorts, err)
	}
	if o.ExcludeOutboundPorts, err = ParsePorts(annotations[AnnotationExcludeOutboundPorts]); err != nil {
		return o, fmt.Errorf("annotation %s: %w", AnnotationExcludeOutboundPorts, err)
	}
	if o.ExcludeOutboundCIDRs, err = ParseCIDRs(annotations[AnnotationExcludeOutboundIPRanges]); err != nil {
		return o, fmt.Errorf("annotation %s: %w", AnnotationExcludeOutboundIPRanges, err)
	}
	return o, nil
}

// ParseInboundPorts reads includeInboundPorts: "*" every port, "" or "-"
// none (as Istio reads an empty value), or a port list.
func ParseInboundPorts(v string) (string, error) {
	switch v = strings.TrimSpace(v); v {
	case "*":
		return "*", nil
	case "", "-":
		return "-", nil
	}
	ports, err := ParsePorts(v)
	if err != nil {
		return "", err
	}
	return JoinPorts(ports), nil
}

// ParsePorts reads "80,8080"; "" is none.
func ParsePorts(v string) ([]int, error) {
	var ports []int
	for _, field := range strings.Split(v, ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		port, err := strconv.Atoi(field)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("port %q: want a number from 1 to 65535", field)
		}
		ports = append(ports, port)
	}
	return ports, nil
}

// ParseCIDRs reads "10.0.0.0/8,192.168.1.1/32"; "" is none.
func ParseCIDRs(v string) ([]string, error) {
	var cidrs []string
	for _, field := range strings.Split(v, ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(field)
		if err != nil {
			return nil, fmt.Errorf("IP range %q: want a CIDR such as 10.0.0.0/8", field)
		}
		cidrs = append(cidrs, prefix.Masked().String())
	}
	return cidrs, nil
}

// JoinPorts writes ports as ParsePorts reads them.
func JoinPorts(ports []int) string {
	fields := make([]string, len(ports))
	for i, p := range ports {
		fields[i] = strconv.Itoa(p)
	}
	return strings.Join(fields, ",")
}
