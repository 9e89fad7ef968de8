package proxystatus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/isthmus-mesh/isthmus/xds/server"
)

// Row is one proxy as one replica reports it.
type Row struct {
	server.ProxyStatus
	// Server is the monitoring URL of the replica the row comes from.
	Server string
}

// Columns are the xDS types a table shows, in the order of the table.
var Columns = []string{"cds", "lds", "eds", "rds", "sds"}

// maxBody bounds what is read of a replica's /debug/proxies.
const maxBody = 256 << 20

// Gather reads /debug/proxies of every server (monitoring base URLs).
func Gather(ctx context.Context, client *http.Client, servers []string) ([]Row, []error) {
	var rows []Row
	var errs []error
	for _, base := range servers {
		statuses, err := fetchProxies(ctx, client, base)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", base, err))
			continue
		}
		for _, st := range statuses {
			if st.Replica == "" {
				st.Replica = base
			}
			rows = append(rows, Row{ProxyStatus: st, Server: base})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].ID != rows[j].ID {
			return rows[i].ID < rows[j].ID
		}
		return rows[i].Replica < rows[j].Replica
	})
	return rows, errs
}

func fetchProxies(ctx context.Context, client *http.Client, base string) ([]server.ProxyStatus, error) {
	body, err := Get(ctx, client, strings.TrimSuffix(base, "/")+"/debug/proxies")
	if err != nil {
		return nil, err
	}
	var out []server.ProxyStatus
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("decode /debug/proxies: %w", err)
	}
	return out, nil
}

// Get fetches url and returns its body; a status other than 200 is an
// error that quotes the start of the body.
func Get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	}
	return body, nil
}

// Find returns the rows of proxy: those whose id is proxy, or else those
// whose id contains it.
func Find(rows []Row, proxy string) []Row {
	var exact, partial []Row
	for _, r := range rows {
		switch {
		case r.ID == proxy:
			exact = append(exact, r)
		case strings.Contains(r.ID, proxy):
			partial = append(partial, r)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	return partial
}

// WriteTable prints rows as a table, then one line per rejected type with
// the proxy's message.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCLUSTER\tNAMESPACE\tTYPE\tCDS\tLDS\tEDS\tRDS\tSDS\tREPLICA")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, orDash(r.ClusterID), orDash(r.Namespace), orDash(r.Type),
			strings.Join(states(r), "\t"), r.Replica)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeRejections(w, rows)
}

func states(r Row) []string {
	out := make([]string, len(Columns))
	for i, c := range Columns {
		out[i] = orDash(r.Types[c].State)
	}
	return out
}

func writeRejections(w io.Writer, rows []Row) error {
	for _, r := range rows {
		for _, c := range Columns {
			if msg := r.Types[c].Rejected; msg != "" {
				if _, err := fmt.Fprintf(w, "%s %s NACKED (replica %s): %s\n", r.ID, strings.ToUpper(c), r.Replica, strings.TrimSpace(msg)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
