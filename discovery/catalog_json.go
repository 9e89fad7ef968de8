package discovery

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
)

// CatalogFormat is the version of the JSON form MarshalJSON writes.
// UnmarshalJSON reads this version only.
const CatalogFormat = 1

// catalogJSON is a catalog as JSON: services in catalog order, the
// endpoints of every service key that has an entry (even an empty one),
// and the network gateways. Field values keep the difference between nil
// and empty, so a decoded catalog is Equal to the one encoded.
type catalogJSON struct {
	Format    int                `json:"format"`
	Services  []*Service         `json:"services"`
	Endpoints []serviceEndpoints `json:"endpoints"`
	Gateways  []NetworkGateway   `json:"gateways"`
}

type serviceEndpoints struct {
	Service   ServiceKey  `json:"service"`
	Endpoints []*Endpoint `json:"endpoints"`
}

// MarshalJSON encodes the catalog whole (services, endpoints and network
// gateways), in a form UnmarshalJSON restores exactly.
func (c *Catalog) MarshalJSON() ([]byte, error) {
	out := catalogJSON{Format: CatalogFormat, Services: c.services, Gateways: c.gateways}
	if out.Services == nil {
		out.Services = []*Service{}
	}
	keys := slices.SortedFunc(maps.Keys(c.endpoints), func(a, b ServiceKey) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.Namespace, b.Namespace))
	})
	out.Endpoints = make([]serviceEndpoints, len(keys))
	for i, k := range keys {
		out.Endpoints[i] = serviceEndpoints{Service: k, Endpoints: c.endpoints[k]}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes what MarshalJSON wrote into c, which must be a new
// Catalog no one else holds yet (catalogs are otherwise immutable). It
// refuses other format versions, unknown fields, nil services or
// endpoints, a service key given twice and trailing data.
func (c *Catalog) UnmarshalJSON(data []byte) error {
	var in catalogJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("catalog: data after the catalog")
	}
	if in.Format != CatalogFormat {
		return fmt.Errorf("catalog: format %d, want %d", in.Format, CatalogFormat)
	}
	endpoints, err := in.endpointMap()
	if err != nil {
		return err
	}
	if err := checkServices(in.Services); err != nil {
		return err
	}
	*c = *NewCatalog(in.Services, endpoints).WithGateways(in.Gateways)
	return nil
}

func (in catalogJSON) endpointMap() (map[ServiceKey][]*Endpoint, error) {
	out := make(map[ServiceKey][]*Endpoint, len(in.Endpoints))
	for _, se := range in.Endpoints {
		if _, dup := out[se.Service]; dup {
			return nil, fmt.Errorf("catalog: endpoints of %s/%s given twice", se.Service.Namespace, se.Service.Hostname)
		}
		if slices.Contains(se.Endpoints, nil) {
			return nil, fmt.Errorf("catalog: null endpoint of %s/%s", se.Service.Namespace, se.Service.Hostname)
		}
		out[se.Service] = se.Endpoints
	}
	return out, nil
}

func checkServices(services []*Service) error {
	seen := make(map[ServiceKey]bool, len(services))
	for _, s := range services {
		if s == nil {
			return errors.New("catalog: null service")
		}
		if seen[s.ServiceKey] {
			return fmt.Errorf("catalog: service %s/%s given twice", s.Namespace, s.Hostname)
		}
		seen[s.ServiceKey] = true
	}
	return nil
}
