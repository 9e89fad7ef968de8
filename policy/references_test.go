package policy

import "testing"

func decodeAll(t *testing.T, yaml string) []*Object {
	t.Helper()
	objs, errs := Decode("refs.yaml", []byte(yaml))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return objs
}

const reviewsRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`

func TestCheckReferences(t *testing.T) {
	cases := []struct {
		name, vs  string
		wantField string
	}{
		{"short name in same namespace", "metadata: {name: r, namespace: bookinfo}\nspec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v2}}]}]}", ""},
		{"FQDN from another namespace", "metadata: {name: r, namespace: other}\nspec: {hosts: [x], http: [{route: [{destination: {host: reviews.bookinfo.svc.cluster.local, subset: v1}}]}]}", ""},
		{"short name resolves elsewhere", "metadata: {name: r, namespace: other}\nspec: {hosts: [x], http: [{route: [{destination: {host: reviews, subset: v1}}]}]}", "spec.http[0].route[0].destination.subset"},
		{"unknown subset", "metadata: {name: r, namespace: bookinfo}\nspec: {hosts: [reviews], http: [{route: [{destination: {host: reviews, subset: v1}, weight: 50}, {destination: {host: reviews, subset: v3}, weight: 50}]}]}", "spec.http[0].route[1].destination.subset"},
		{"mirror subset", "metadata: {name: r, namespace: bookinfo}\nspec: {hosts: [reviews], http: [{mirror: {host: reviews, subset: v9}, route: [{destination: {host: reviews}}]}]}", "spec.http[0].mirror.subset"},
		{"tcp subset", "metadata: {name: r, namespace: bookinfo}\nspec: {hosts: [reviews], tcp: [{route: [{destination: {host: reviews, subset: v9}}]}]}", "spec.tcp[0].route[0].destination.subset"},
		{"no subset needs no rule", "metadata: {name: r, namespace: bookinfo}\nspec: {hosts: [ratings], http: [{route: [{destination: {host: ratings}}]}]}", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := decodeAll(t, reviewsRule+"---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"+c.vs+"\n")
			errs := CheckReferences(objs)
			if c.wantField == "" {
				if len(errs) != 0 {
					t.Errorf("unexpected problems: %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != c.wantField || errs[0].Key.Kind != KindVirtualService {
				t.Errorf("problems %v, want one at %s", errs, c.wantField)
			}
		})
	}
}

func TestCheckReferencesWildcardRule(t *testing.T) {
	objs := decodeAll(t, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all, namespace: bookinfo}
spec: {host: '*.bookinfo.svc.cluster.local', subsets: [{name: canary, labels: {track: canary}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: bookinfo}
spec: {hosts: [ratings], http: [{route: [{destination: {host: ratings, subset: canary}}]}]}
`)
	if errs := CheckReferences(objs); len(errs) != 0 {
		t.Errorf("wildcard DestinationRule should cover ratings: %v", errs)
	}
}

func TestResolveHost(t *testing.T) {
	for in, want := range map[string]string{
		"reviews":         "reviews.ns.svc.cluster.local",
		"reviews.other":   "reviews.other",
		"*":               "*",
		"*.example.com":   "*.example.com",
		"api.example.com": "api.example.com",
	} {
		if got := ResolveHost(in, "ns"); got != want {
			t.Errorf("ResolveHost(%q) = %q, want %q", in, got, want)
		}
	}
}
