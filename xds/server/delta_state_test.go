package server

import (
	"slices"
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// typeOf is a prepared type of resources written "name@version".
func typeOf(version string, named ...string) *typeResources {
	t := &typeResources{version: version}
	for _, nv := range named {
		name, v, _ := strings.Cut(nv, "@")
		t.list = append(t.list, &preparedResource{name: name, version: v})
	}
	slices.SortFunc(t.list, func(a, b *preparedResource) int { return strings.Compare(a.name, b.name) })
	return t
}

func names(list []*preparedResource) []string {
	out := []string{}
	for _, r := range list {
		out = append(out, r.name+"@"+r.version)
	}
	return out
}

// wantOwed checks what d is owed of t, then records it sent.
func wantOwed(t *testing.T, d *deltaType, of *typeResources, send, removed []string) {
	t.Helper()
	gotSend, gotRemoved := d.owed(of)
	if !slices.Equal(names(gotSend), send) || !slices.Equal(append([]string{}, gotRemoved...), removed) {
		t.Errorf("owed %v, removed %v; want %v, removed %v", names(gotSend), gotRemoved, send, removed)
	}
	d.sent(of)
}

func TestDeltaWildcardIsOwedChangesAndRemovals(t *testing.T) {
	sets := newNameSets()
	d := newDeltaType(&deltaRequest{req: &discoveryv3.DeltaDiscoveryRequest{}}, sets)
	wantOwed(t, d, typeOf("1", "a@1", "b@1"), []string{"a@1", "b@1"}, []string{})
	wantOwed(t, d, typeOf("1", "a@1", "b@1"), []string{}, []string{})
	wantOwed(t, d, typeOf("2", "a@2", "c@1"), []string{"a@2", "c@1"}, []string{"b"})
	// Naming a resource ends the legacy wildcard but keeps the wildcard.
	d.update([]string{"z"}, nil, sets)
	wantOwed(t, d, typeOf("3", "a@2", "c@1", "d@1"), []string{"d@1"}, []string{})
	// Unsubscribing "*" leaves only the names subscribed.
	d.update(nil, []string{"*"}, sets)
	wantOwed(t, d, typeOf("4", "a@3", "z@1"), []string{"z@1"}, []string{})
}

func TestDeltaSubscriptionIsOwedItsNamesOnly(t *testing.T) {
	sets := newNameSets()
	d := newDeltaType(&deltaRequest{req: &discoveryv3.DeltaDiscoveryRequest{ResourceNamesSubscribe: []string{"a", "b", "missing"}}}, sets)
	all := typeOf("1", "a@1", "b@1", "c@1")
	wantOwed(t, d, all, []string{"a@1", "b@1"}, []string{})

	// A name subscribed later is sent though its version did not change;
	// one unsubscribed is neither sent nor removed.
	d.update([]string{"c"}, []string{"a"}, sets)
	wantOwed(t, d, all, []string{"c@1"}, []string{})
	wantOwed(t, d, typeOf("2", "a@2", "b@1"), []string{}, []string{"c"})
	// Subscribed again after it was removed: sent once it exists.
	wantOwed(t, d, typeOf("3", "a@2", "b@1", "c@2"), []string{"c@2"}, []string{})
}

func TestDeltaReconnectSendsOnlyWhatDiffersFromWhatItHolds(t *testing.T) {
	sets := newNameSets()
	d := newDeltaType(&deltaRequest{req: &discoveryv3.DeltaDiscoveryRequest{InitialResourceVersions: map[string]string{"a": "1", "b": "0", "gone": "1"}}}, sets)
	wantOwed(t, d, typeOf("1", "a@1", "b@1", "c@1"), []string{"b@1", "c@1"}, []string{"gone"})
	wantOwed(t, d, typeOf("2", "a@1", "b@1"), []string{}, []string{"c"})
}

// Streams that subscribe to the same names share one set, however they
// got there; a set no stream holds is collected.
func TestNameSetsAreSharedByContent(t *testing.T) {
	sets := newNameSets()
	one := sets.update(sets.empty(), []string{"a", "b", "c"}, nil)
	two := sets.update(sets.update(sets.empty(), []string{"c", "d"}, nil), []string{"b", "a"}, []string{"d"})
	if one != two {
		t.Error("the same names subscribed in other orders and steps are two sets")
	}
	if got := sets.update(sets.empty(), []string{"c", "b", "a"}, nil); got != one {
		t.Error("a first subscription to known names made a new set")
	}
	if got := sets.update(sets.empty(), []string{"a", "a", "b", "c"}, nil); got != one {
		t.Error("a first subscription naming a known set's names, one twice, made a new set")
	}
	if got := sets.update(sets.empty(), []string{"a", "a", "b"}, nil); got == one || len(got.names) != 2 {
		t.Errorf("{a a b} is %v", got.names)
	}
	if got := sets.update(one, []string{"a"}, []string{"zz"}); got != one {
		t.Error("a change that changes nothing made a new set")
	}
	three := sets.update(one, nil, []string{"b"})
	if three == one || three.has("b") || !three.has("a") || !three.has("c") || len(three.names) != 2 {
		t.Errorf("removing b from {a b c}: %v", three.names)
	}
	if !one.has("b") {
		t.Error("a shared set was modified")
	}
}

// Streams that held the same list and subscribe to the same names are
// owed the same, found once; a stream subscribing to other names is owed
// its own.
func TestStreamsAlikeAreOwedOneDiff(t *testing.T) {
	sets := newNameSets()
	before, after := typeOf("1", "a@1", "b@1", "c@1"), typeOf("2", "a@2", "b@1", "c@1")
	stream := func(names ...string) *deltaType {
		d := newDeltaType(&deltaRequest{req: &discoveryv3.DeltaDiscoveryRequest{ResourceNamesSubscribe: names}}, sets)
		d.sent(before)
		return d
	}
	one, two, other := stream("a", "b"), stream("b", "a"), stream("b", "c")
	sendOne, _ := one.owed(after)
	sendTwo, _ := two.owed(after)
	sendOther, _ := other.owed(after)
	if len(sendOne) != 1 || sendOne[0].name != "a" || &sendOne[0] != &sendTwo[0] {
		t.Errorf("streams alike owed %v and %v, want a@2 found once", names(sendOne), names(sendTwo))
	}
	if len(sendOther) != 0 {
		t.Errorf("a stream without a owed %v", names(sendOther))
	}
}

// A cluster that changed is built anew by Envoy and waits for its load
// assignment: resend has it sent again though it did not change.
func TestChangedClustersLoadAssignmentsAreSentAgain(t *testing.T) {
	sets := newNameSets()
	eds := newDeltaType(&deltaRequest{req: &discoveryv3.DeltaDiscoveryRequest{ResourceNamesSubscribe: []string{"a", "b"}}}, sets)
	all := typeOf("1", "a@1", "b@1")
	wantOwed(t, eds, all, []string{"a@1", "b@1"}, []string{})
	resendDependents(eds, []*preparedResource{{name: "cluster-a", refs: []string{"a"}}, {name: "other", refs: []string{"not-subscribed"}}})
	wantOwed(t, eds, all, []string{"a@1"}, []string{})
	wantOwed(t, eds, all, []string{}, []string{})
}
