package capture

import (
	"fmt"
	"os"
	"path/filepath"
)

// The reviews service as clients see it, and where its pods serve.
const (
	reviewsHost    = "reviews.default.svc.cluster.local"
	reviewsShort   = "reviews"
	reviewsPort    = 9080 // the service port, on the VIP
	reviewsAppPort = 8080 // the workload port (targetPort)
	reviewsTCPPort = 9000 // a TCP service port, on the VIP
	reviewsTCPApp  = 7000 // its workload port
	canaryHeader   = "end-user"
	canaryUser     = "jason" // requests with end-user: jason go to v2
)

// meshConfig is the Istio configuration the test applies: reviews behind a
// VIP, HTTP port 9080 → 8080 and TCP port 9000 → 7000, two WorkloadEntries (one per server pod), subsets
// by version and a VirtualService sending jason's requests to v2, all other
// requests to v1.
func meshConfig() string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: reviews
  namespace: default
spec:
  hosts: [%[1]s]
  addresses: [%[2]s]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: %[3]d, name: http, protocol: HTTP, targetPort: %[4]d}
  - {number: %[9]d, name: tcp, protocol: TCP, targetPort: %[10]d}
  workloadSelector:
    labels: {app: reviews}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: reviews-v1
  namespace: default
spec:
  address: %[5]s
  labels: {app: reviews, version: v1}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: reviews-v2
  namespace: default
spec:
  address: %[6]s
  labels: {app: reviews, version: v2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: default
spec:
  host: %[1]s
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: default
spec:
  hosts: [%[1]s]
  http:
  - match:
    - headers:
        %[7]s: {exact: %[8]s}
    route:
    - destination: {host: %[1]s, subset: v2}
  - route:
    - destination: {host: %[1]s, subset: v1}
`, reviewsHost, reviewsVIP, reviewsPort, reviewsAppPort, reviewsV1IP, reviewsV2IP, canaryHeader, canaryUser,
		reviewsTCPPort, reviewsTCPApp)
}

// writeMeshConfig writes meshConfig into a new config directory under dir.
func writeMeshConfig(dir string) (string, error) {
	configDir := filepath.Join(dir, "config")
	if err := os.Mkdir(configDir, 0o755); err != nil {
		return "", fmt.Errorf("config dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(configDir, "reviews.yaml"), []byte(meshConfig()), 0o644); err != nil {
		return "", fmt.Errorf("write config: %w", err)
	}
	return configDir, nil
}
