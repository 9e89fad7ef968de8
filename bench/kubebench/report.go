package kubebench

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/bench/xdsload"
)

// Report is what a run measured, written as JSON.
type Report struct {
	Started   time.Time       `json:"started"`
	Machine   xdsload.Machine `json:"machine"`
	LoadStart string          `json:"loadAverageStart"`
	LoadEnd   string          `json:"loadAverageEnd"`
	// Mesh is each cluster's mesh (the same services in both).
	Mesh           meshgen.Spec `json:"mesh"`
	PodsPerCluster int          `json:"podsPerCluster"`
	Proxies        int          `json:"proxies"`
	Delta          bool         `json:"delta"`
	Auth           string       `json:"auth"`
	Setup          Setup        `json:"setup"`
	Churn          PhaseReport  `json:"endpointChurn"`
	// VirtualServices is nil when no edit was asked for.
	VirtualServices *PhaseReport `json:"virtualServiceEdits,omitempty"`
	// KubePeakRSSBytes sums the peak RSS of both clusters' etcd and
	// kube-apiserver.
	KubePeakRSSBytes int64  `json:"kubePeakRSSBytes"`
	IsthmusLog       string `json:"isthmusLog"`
	// Load is the simulated sidecars' report: the connect storm, then the
	// phases, Isthmus's cost and metrics per phase.
	Load *xdsload.Report `json:"load"`
}

// Setup times the steps before the sidecars connect.
type Setup struct {
	Clusters time.Duration `json:"clustersNs"`
	Populate time.Duration `json:"populateNs"`
	Isthmus  time.Duration `json:"isthmusNs"`
	// ConnectKubeCPUSeconds is what the clusters spent during the connect
	// storm.
	ConnectKubeCPUSeconds float64 `json:"connectKubeCPUSeconds"`
}

// PhaseReport is one phase: the sidecars' view (Result), the writes, and
// what both clusters' etcd and kube-apiserver spent.
type PhaseReport struct {
	Result         xdsload.ScenarioResult `json:"result"`
	Writes         Writes                 `json:"writes"`
	KubeCPUSeconds float64                `json:"kubeCPUSeconds"`
}

// authWords say how the sidecars connected (Options.Auth).
var authWords = map[string]string{
	AuthPlaintext: "plaintext port, identities unproven",
	AuthCerts:     "secure port, a client certificate each",
	AuthTokens:    "secure port, a service-account token each, reviewed by TokenReview",
}

// WriteMarkdown writes the report: a header, the table of the issue's
// figures, then the sidecars' own report (xdsload's tables).
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	protocol := "state-of-the-world"
	if r.Delta {
		protocol = "delta"
	}
	m := r.Mesh
	fmt.Fprintf(&b, "Clusters aws (%s, the config cluster) and gcp (%s), real kube-apiserver and etcd each; %d pods per cluster: "+
		"%d services in %d namespaces with %d pods each, the same services in both clusters, an 80/20 VirtualService per service "+
		"and a Sidecar per namespace as custom resources in aws. %d simulated sidecars over %s xDS (%s), spread over the namespaces and both clusters.\n\n",
		serviceCIDRs[0], serviceCIDRs[1], r.PodsPerCluster, m.Services, m.Namespaces, m.EndpointsPerService, r.Proxies, protocol, authWords[cmp.Or(r.Auth, AuthPlaintext)])
	fmt.Fprintf(&b, "Setup: API servers started in %s, populated in %s, isthmus ready in %s.\n\n",
		fmtDuration(r.Setup.Clusters), fmtDuration(r.Setup.Populate), fmtDuration(r.Setup.Isthmus))
	b.WriteString("| phase | writes | asked/s | made/s | API write p50 / p99 | sidecar updates seen | missed | p50 | p90 | p99 | max | Isthmus CPU s | Isthmus cores | Isthmus peak RSS | etcd + API servers CPU s |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	if r.Load != nil && len(r.Load.Scenarios) > 0 {
		storm := r.Load.Scenarios[0]
		fmt.Fprintf(&b, "| %s (time to full config) | – | – | – | – | %s | %s | %s | %s |\n",
			storm.Name, xdsload.SeenCells(storm), xdsload.LatencyCells(storm), xdsload.CostCells(storm), fmtCPU(r.Setup.ConnectKubeCPUSeconds))
	}
	for _, p := range []*PhaseReport{&r.Churn, r.VirtualServices} {
		if p == nil {
			continue
		}
		wr := p.Writes
		writes := fmt.Sprint(wr.Made)
		if wr.Failed > 0 {
			writes += fmt.Sprintf(" (%d failed)", wr.Failed)
		}
		fmt.Fprintf(&b, "| %s | %s | %g | %.1f | %s / %s | %s | %s | %s | %s |\n",
			p.Result.Name, writes, wr.Requested, wr.Achieved, xdsload.FormatMs(wr.Write.P50), xdsload.FormatMs(wr.Write.P99),
			xdsload.SeenCells(p.Result), xdsload.LatencyCells(p.Result), xdsload.CostCells(p.Result), fmtCPU(p.KubeCPUSeconds))
	}
	b.WriteString("\nLatencies run from the API write returning to the sidecar's ACK of the first response showing the change " +
		"(EDS for the churn, RDS for the VirtualService edits), for every sidecar that holds the service.\n")
	for _, p := range []*PhaseReport{&r.Churn, r.VirtualServices} {
		if p != nil && p.Writes.Late > 0 {
			fmt.Fprintf(&b, "%s: the latest change started %s behind its schedule.\n", p.Result.Name, xdsload.FormatMs(float64(p.Writes.Late)/1e6))
		}
	}
	if r.Load != nil {
		if cp := r.Load.ControlPlane; cp != nil {
			fmt.Fprintf(&b, "Isthmus (pid %d): peak RSS %s since it started (VmHWM), %.2f CPU-seconds over the phases.\n",
				cp.PID, xdsload.FormatBytes(cp.PeakRSSBytes), cp.CPUSeconds)
		}
		if lg := r.Load.LoadGenerator; lg != nil {
			fmt.Fprintf(&b, "The benchmark's own process (sidecars and API writers): %.2f CPU-seconds, peak RSS %s.\n",
				lg.CPUSeconds, xdsload.FormatBytes(lg.PeakRSSBytes))
		}
	}
	fmt.Fprintf(&b, "Both clusters' etcd and kube-apiserver: peak RSS %s in all.\n", xdsload.FormatBytes(r.KubePeakRSSBytes))
	if r.Load != nil && len(r.Load.Profiles) > 0 {
		fmt.Fprintf(&b, "Isthmus's profiles: %s.\n", strings.Join(r.Load.Profiles, ", "))
	}
	for _, p := range []*PhaseReport{&r.Churn, r.VirtualServices} {
		if p != nil && p.Writes.FirstError != "" {
			fmt.Fprintf(&b, "\n%s: first failed write: %s\n", p.Result.Name, p.Writes.FirstError)
		}
	}
	if r.Load != nil {
		b.WriteString("\nThe sidecars' report:\n\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		return r.Load.WriteMarkdown(w)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtCPU(v float64) string { return fmt.Sprintf("%.2f", v) }

func fmtDuration(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
