package localmesh

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Stats maps Envoy counter and gauge names to their values.
type Stats map[string]uint64

// Stats reads every counter and gauge from /stats?format=json.
func (e *Envoy) Stats(ctx context.Context) (Stats, error) {
	body, err := e.Admin(ctx, "/stats?format=json")
	if err != nil {
		return nil, err
	}
	return parseStatsJSON(body)
}

// parseStatsJSON reads Envoy's {"stats":[{"name":..,"value":..},…]} form,
// skipping histograms and text readouts.
func parseStatsJSON(body []byte) (Stats, error) {
	var doc struct {
		Stats []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode envoy stats: %w", err)
	}
	out := Stats{}
	for _, s := range doc.Stats {
		if s.Name == "" {
			continue
		}
		if v, err := strconv.ParseUint(string(s.Value), 10, 64); err == nil {
			out[s.Name] = v
		}
	}
	return out, nil
}

// Matching returns the stats whose name ends with suffix.
func (s Stats) Matching(suffix string) Stats {
	out := Stats{}
	for name, v := range s {
		if strings.HasSuffix(name, suffix) {
			out[name] = v
		}
	}
	return out
}

// NonZero returns the stats with a value above zero.
func (s Stats) NonZero() Stats {
	out := Stats{}
	for name, v := range s {
		if v > 0 {
			out[name] = v
		}
	}
	return out
}

// String lists the stats one per line, sorted by name.
func (s Stats) String() string {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s: %d\n", name, s[name])
	}
	return b.String()
}

// RejectedUpdates returns every "*.update_rejected" stat (LDS, CDS, each RDS
// and EDS subscription) with a non-zero value: the xDS updates this Envoy
// refused (NACKed).
func (e *Envoy) RejectedUpdates(ctx context.Context) (Stats, error) {
	stats, err := e.Stats(ctx)
	if err != nil {
		return nil, err
	}
	return stats.Matching(".update_rejected").NonZero(), nil
}

// ListenerAddresses returns the local address of each active listener, by
// listener name.
func (e *Envoy) ListenerAddresses(ctx context.Context) (map[string]string, error) {
	body, err := e.Admin(ctx, "/listeners?format=json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		ListenerStatuses []struct {
			Name         string `json:"name"`
			LocalAddress struct {
				SocketAddress struct {
					Address   string `json:"address"`
					PortValue int    `json:"port_value"`
				} `json:"socket_address"`
			} `json:"local_address"`
		} `json:"listener_statuses"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode envoy listeners: %w", err)
	}
	out := make(map[string]string, len(doc.ListenerStatuses))
	for _, l := range doc.ListenerStatuses {
		sa := l.LocalAddress.SocketAddress
		out[l.Name] = net.JoinHostPort(sa.Address, strconv.Itoa(sa.PortValue))
	}
	return out, nil
}

// WaitListener waits until Envoy has an active listener on addr that accepts
// TCP connections.
func (e *Envoy) WaitListener(ctx context.Context, addr string) error {
	if err := requireLoopback(addr); err != nil {
		return err
	}
	return waitFor(ctx, "envoy "+e.Name+" listener "+addr, func() error {
		if err := e.proc.errIfExited(); err != nil {
			return err
		}
		addrs, err := e.ListenerAddresses(ctx)
		if err != nil {
			return err
		}
		if !slices.Contains(slices.Collect(maps.Values(addrs)), addr) {
			return fmt.Errorf("active listeners are %v", addrs)
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
}
