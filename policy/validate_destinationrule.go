package policy

import (
	"fmt"
	"math"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

func (c *checker) destinationRule(dr *networking.DestinationRule) {
	if dr.GetHost() == "" {
		c.add("spec.host", "host is required")
	} else {
		c.check("spec.host", checkWildcardHost(dr.GetHost()))
	}
	c.trafficPolicy("spec.trafficPolicy", dr.GetTrafficPolicy())
	names := map[string]bool{}
	for i, s := range dr.GetSubsets() {
		p := index("spec.subsets", i)
		if s == nil {
			c.add(p, "subset must not be null")
			continue
		}
		if names[s.GetName()] {
			c.add(field(p, "name"), "duplicate subset name %q", s.GetName())
		}
		names[s.GetName()] = true
		c.check(field(p, "name"), checkDNS1123Label(s.GetName()))
		c.labels(field(p, "labels"), s.GetLabels())
		c.trafficPolicy(field(p, "trafficPolicy"), s.GetTrafficPolicy())
	}
	c.exportTo("spec.exportTo", dr.GetExportTo(), false)
	if sel := dr.GetWorkloadSelector(); sel != nil {
		c.selectorLabels("spec.workloadSelector.matchLabels", sel.GetMatchLabels())
		c.selectorExportTo(dr.GetExportTo())
	}
}

// selectorExportTo: a DestinationRule with a workload selector applies to
// its own namespace only.
func (c *checker) selectorExportTo(exportTo []string) {
	for i, e := range exportTo {
		if e != "." && e != c.obj.Namespace {
			c.add(index("spec.exportTo", i), "a DestinationRule with a workloadSelector can only be exported to its own namespace")
		}
	}
}

func (c *checker) trafficPolicy(p string, tp *networking.TrafficPolicy) {
	if tp == nil {
		return
	}
	if tp.GetOutlierDetection() == nil && tp.GetConnectionPool() == nil && tp.GetLoadBalancer() == nil &&
		tp.GetTls() == nil && tp.GetPortLevelSettings() == nil && tp.GetTunnel() == nil && tp.GetProxyProtocol() == nil &&
		tp.GetRetryBudget() == nil {
		c.add(p, "trafficPolicy must set at least one field")
	}
	if tp.GetTunnel() != nil && tp.GetProxyProtocol() != nil {
		c.add(p, "tunnel and proxyProtocol cannot both be set")
	}
	c.outlierDetection(field(p, "outlierDetection"), tp.GetOutlierDetection())
	c.connectionPool(field(p, "connectionPool"), tp.GetConnectionPool())
	c.loadBalancer(field(p, "loadBalancer"), tp.GetLoadBalancer())
	c.clientTLS(field(p, "tls"), tp.GetTls())
	c.portLevelSettings(field(p, "portLevelSettings"), tp.GetPortLevelSettings())
	c.tunnel(field(p, "tunnel"), tp.GetTunnel())
	if pp := tp.GetProxyProtocol(); pp != nil && pp.GetVersion() > 1 {
		c.add(field(p, "proxyProtocol.version"), "unknown proxy protocol version %v", pp.GetVersion())
	}
	if rb := tp.GetRetryBudget(); rb != nil && rb.GetPercent() != nil {
		if v := rb.GetPercent().GetValue(); v < 0 || v > 100 {
			c.add(field(p, "retryBudget.percent"), "percent must be in the range 0..100")
		}
	}
}

func (c *checker) portLevelSettings(p string, settings []*networking.TrafficPolicy_PortTrafficPolicy) {
	ports := map[uint32]bool{}
	for i, s := range settings {
		sp := index(p, i)
		if s == nil {
			c.add(sp, "port traffic policy must not be null")
			continue
		}
		if s.GetPort() == nil {
			c.add(field(sp, "port"), "port is required")
		} else {
			n := s.GetPort().GetNumber()
			c.check(field(sp, "port.number"), checkPort(int64(n)))
			if ports[n] {
				c.add(field(sp, "port.number"), "port %d already has settings", n)
			}
			ports[n] = true
		}
		if s.GetOutlierDetection() == nil && s.GetConnectionPool() == nil && s.GetLoadBalancer() == nil && s.GetTls() == nil {
			c.add(sp, "port traffic policy must set at least one field")
		}
		c.outlierDetection(field(sp, "outlierDetection"), s.GetOutlierDetection())
		c.connectionPool(field(sp, "connectionPool"), s.GetConnectionPool())
		c.loadBalancer(field(sp, "loadBalancer"), s.GetLoadBalancer())
		c.clientTLS(field(sp, "tls"), s.GetTls())
	}
}

func (c *checker) outlierDetection(p string, od *networking.OutlierDetection) {
	if od == nil {
		return
	}
	if od.GetBaseEjectionTime() != nil {
		c.check(field(p, "baseEjectionTime"), checkDuration(od.GetBaseEjectionTime()))
	}
	if od.GetInterval() != nil {
		c.check(field(p, "interval"), checkDuration(od.GetInterval()))
	}
	if !od.GetSplitExternalLocalOriginErrors() && od.GetConsecutiveLocalOriginFailures().GetValue() > 0 {
		c.add(field(p, "consecutiveLocalOriginFailures"), "needs splitExternalLocalOriginErrors: true")
	}
	c.check(field(p, "maxEjectionPercent"), checkPercent(int64(od.GetMaxEjectionPercent())))
	c.check(field(p, "minHealthPercent"), checkPercent(int64(od.GetMinHealthPercent())))
}

func (c *checker) connectionPool(p string, cp *networking.ConnectionPoolSettings) {
	if cp == nil {
		return
	}
	if cp.GetHttp() == nil && cp.GetTcp() == nil {
		c.add(p, "connectionPool must set http or tcp")
	}
	c.httpPool(field(p, "http"), cp.GetHttp())
	c.tcpPool(field(p, "tcp"), cp.GetTcp())
}

func (c *checker) httpPool(p string, h *networking.ConnectionPoolSettings_HTTPSettings) {
	if h == nil {
		return
	}
	for _, limit := range []struct {
		name  string
		value int32
	}{
		{"http1MaxPendingRequests", h.GetHttp1MaxPendingRequests()}, {"http2MaxRequests", h.GetHttp2MaxRequests()},
		{"maxRequestsPerConnection", h.GetMaxRequestsPerConnection()}, {"maxRetries", h.GetMaxRetries()},
		{"maxConcurrentStreams", h.GetMaxConcurrentStreams()},
	} {
		if limit.value < 0 {
			c.add(field(p, limit.name), "must not be negative")
		}
	}
	if h.GetIdleTimeout() != nil {
		c.check(field(p, "idleTimeout"), checkDuration(h.GetIdleTimeout()))
	}
	if h.GetH2UpgradePolicy() == networking.ConnectionPoolSettings_HTTPSettings_UPGRADE && h.GetUseClientProtocol() {
		c.add(field(p, "useClientProtocol"), "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE")
	}
}

func (c *checker) tcpPool(p string, t *networking.ConnectionPoolSettings_TCPSettings) {
	if t == nil {
		return
	}
	if t.GetMaxConnections() < 0 {
		c.add(field(p, "maxConnections"), "must not be negative")
	}
	for _, d := range []struct {
		name string
		set  bool
		err  error
	}{
		{"connectTimeout", t.GetConnectTimeout() != nil, checkDuration(t.GetConnectTimeout())},
		{"maxConnectionDuration", t.GetMaxConnectionDuration() != nil, checkDuration(t.GetMaxConnectionDuration())},
		{"idleTimeout", t.GetIdleTimeout() != nil, checkDuration(t.GetIdleTimeout())},
		{"tcpKeepalive.time", t.GetTcpKeepalive().GetTime() != nil, checkDuration(t.GetTcpKeepalive().GetTime())},
		{"tcpKeepalive.interval", t.GetTcpKeepalive().GetInterval() != nil, checkDuration(t.GetTcpKeepalive().GetInterval())},
	} {
		if d.set {
			c.check(field(p, d.name), d.err)
		}
	}
}

func (c *checker) loadBalancer(p string, lb *networking.LoadBalancerSettings) {
	if lb == nil {
		return
	}
	if ch := lb.GetConsistentHash(); ch != nil {
		c.consistentHash(field(p, "consistentHash"), ch)
	}
	c.localityLB(field(p, "localityLbSetting"), lb.GetLocalityLbSetting())
	if lb.GetWarmupDurationSecs() != nil {
		c.check(field(p, "warmupDurationSecs"), checkDuration(lb.GetWarmupDurationSecs()))
	}
	if lb.GetWarmupDurationSecs() != nil && lb.GetWarmup() != nil {
		c.add(p, "only one of warmupDurationSecs and warmup can be set")
	}
}

func (c *checker) consistentHash(p string, ch *networking.LoadBalancerSettings_ConsistentHashLB) {
	if cookie := ch.GetHttpCookie(); cookie != nil && cookie.GetName() == "" {
		c.add(field(p, "httpCookie.name"), "cookie name is required")
	}
	if h := ch.GetHttpHeaderName(); h != "" {
		c.check(field(p, "httpHeaderName"), checkHeaderName(h))
	}
	//nolint:staticcheck // the deprecated minimumRingSize is still accepted
	if ch.GetMinimumRingSize() != 0 && ch.GetHashAlgorithm() != nil {
		c.add(field(p, "minimumRingSize"), "only one of minimumRingSize, ringHash and maglev can be set")
	}
	if m := ch.GetMaglev(); m != nil {
		size := m.GetTableSize()
		if size == 0 || size >= 5000011 || !isPrime(size) {
			c.add(field(p, "maglev.tableSize"), "maglev tableSize must be a prime number below 5000011")
		}
	}
}

// isPrime is a trial-division test, enough for maglev table sizes.
func isPrime(x uint64) bool {
	if x < 2 {
		return false
	}
	if x < 4 {
		return true
	}
	if x%2 == 0 {
		return false
	}
	limit := uint64(math.Sqrt(float64(x)))
	for f := uint64(3); f <= limit; f += 2 {
		if x%f == 0 {
			return false
		}
	}
	return true
}

func (c *checker) localityLB(p string, l *networking.LocalityLoadBalancerSetting) {
	if l == nil {
		return
	}
	if len(l.GetDistribute()) > 0 && len(l.GetFailover()) > 0 {
		c.add(p, "distribute and failover cannot both be set")
		return
	}
	for i, d := range l.GetDistribute() {
		c.localityDistribute(index(field(p, "distribute"), i), d)
	}
	for i, f := range l.GetFailover() {
		fp := index(field(p, "failover"), i)
		switch {
		case f.GetFrom() == f.GetTo():
			c.add(fp, "failover must go to a different region")
		case strings.ContainsAny(f.GetFrom()+f.GetTo(), "/*"):
			c.add(fp, "failover names regions only, without '/' or '*'")
		}
	}
}

func (c *checker) localityDistribute(p string, d *networking.LocalityLoadBalancerSetting_Distribute) {
	c.check(field(p, "from"), checkLocality(d.GetFrom()))
	total := uint32(0)
	for _, loc := range sortedMapKeys(d.GetTo()) {
		w := d.GetTo()[loc]
		c.check(mapKey(field(p, "to"), loc), checkLocality(loc))
		if w == 0 || w > 100 {
			c.add(mapKey(field(p, "to"), loc), "locality weight must be in the range 1..100")
		}
		total += w
	}
	if total != 100 {
		c.add(field(p, "to"), "locality weights add up to %d, not 100", total)
	}
}

// checkLocality checks region/zone/subzone with an optional trailing "*".
func checkLocality(loc string) error {
	n := strings.Count(loc, "*")
	if n > 1 || (n == 1 && !strings.HasSuffix(loc, "*")) {
		return fmt.Errorf("locality %q may hold one '*' only, at the end", loc)
	}
	for _, part := range strings.SplitN(loc, "/", 3) {
		if part == "" {
			return fmt.Errorf("locality %q has an empty region, zone or subzone", loc)
		}
	}
	return nil
}

func (c *checker) clientTLS(p string, t *networking.ClientTLSSettings) {
	if t == nil {
		return
	}
	mode := t.GetMode()
	if t.GetInsecureSkipVerify().GetValue() {
		if mode == networking.ClientTLSSettings_SIMPLE && (t.GetCaCertificates() != "" || t.GetCredentialName() != "" || t.GetSubjectAltNames() != nil) {
			c.add(field(p, "insecureSkipVerify"), "caCertificates, credentialName and subjectAltNames cannot be set with insecureSkipVerify")
		}
		if mode == networking.ClientTLSSettings_MUTUAL && (t.GetCaCertificates() != "" || t.GetSubjectAltNames() != nil) {
			c.add(field(p, "insecureSkipVerify"), "caCertificates and subjectAltNames cannot be set with insecureSkipVerify")
		}
	}
	usesCredential := (mode == networking.ClientTLSSettings_SIMPLE || mode == networking.ClientTLSSettings_MUTUAL) && t.GetCredentialName() != ""
	if usesCredential {
		if t.GetClientCertificate() != "" || t.GetCaCertificates() != "" || t.GetPrivateKey() != "" || t.GetCaCrl() != "" {
			c.add(field(p, "credentialName"), "certificate files cannot be set together with credentialName")
		}
		return
	}
	if mode == networking.ClientTLSSettings_MUTUAL {
		if t.GetClientCertificate() == "" {
			c.add(field(p, "clientCertificate"), "MUTUAL mode needs clientCertificate (or credentialName)")
		}
		if t.GetPrivateKey() == "" {
			c.add(field(p, "privateKey"), "MUTUAL mode needs privateKey (or credentialName)")
		}
	}
}

func (c *checker) tunnel(p string, t *networking.TrafficPolicy_TunnelSettings) {
	if t == nil {
		return
	}
	if proto := t.GetProtocol(); proto != "" && proto != "CONNECT" && proto != "POST" {
		c.add(field(p, "protocol"), "tunnel protocol must be CONNECT or POST")
	}
	if checkFQDN(t.GetTargetHost()) != nil && !isIP(t.GetTargetHost()) {
		c.add(field(p, "targetHost"), "tunnel targetHost must be a host name or IP address")
	}
	c.check(field(p, "targetPort"), checkPort(int64(t.GetTargetPort())))
}
