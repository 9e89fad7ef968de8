package crd

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	analysis "istio.io/api/analysis/v1alpha1"
	meta "istio.io/api/meta/v1alpha1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/isthmus-mesh/isthmus/policy"
)

// Status Isthmus writes on an object it rejects (Options.WriteStatus): the
// condition acceptedCondition False with the problems as message, and the
// validation message Istio's analysis uses for an invalid object. Both are
// removed once the object is accepted again; other conditions and messages
// are left alone.
const (
	acceptedCondition  = "Accepted"
	rejectedReason     = "Invalid"
	invalidConfigName  = "SchemaValidationError"
	invalidConfigCode  = "IST0106"
	statusWriteTimeout = 10 * time.Second
)

// statusUpdate is one object's status to write.
type statusUpdate struct {
	kind      kind
	namespace string
	name      string
	status    *meta.IstioStatus
}

// desiredStatus is cur with Isthmus's condition and validation message set
// for problems (removed when there are none); ok is false when cur already
// says so.
func desiredStatus(cur *meta.IstioStatus, problems []*policy.ConfigError, generation int64) (*meta.IstioStatus, bool) {
	next := &meta.IstioStatus{ObservedGeneration: cur.GetObservedGeneration()}
	for _, c := range cur.GetConditions() {
		if c.GetType() != acceptedCondition {
			next.Conditions = append(next.Conditions, c)
		}
	}
	for _, m := range cur.GetValidationMessages() {
		if m.GetType().GetCode() != invalidConfigCode {
			next.ValidationMessages = append(next.ValidationMessages, m)
		}
	}
	if len(problems) > 0 {
		next.ObservedGeneration = generation
		next.Conditions = append(next.Conditions, &meta.IstioCondition{
			Type: acceptedCondition, Status: "False", Reason: rejectedReason,
			Message: problemMessage(problems), LastTransitionTime: timestamppb.Now(),
		})
		next.ValidationMessages = append(next.ValidationMessages, &analysis.AnalysisMessageBase{
			Type:  &analysis.AnalysisMessageBase_Type{Name: invalidConfigName, Code: invalidConfigCode},
			Level: analysis.AnalysisMessageBase_ERROR,
		})
	}
	return next, !sameStatus(cur, next)
}

// problemMessage joins the problems' fields and messages.
func problemMessage(problems []*policy.ConfigError) string {
	parts := make([]string, 0, len(problems))
	for _, p := range problems {
		if p.Field != "" {
			parts = append(parts, p.Field+": "+p.Msg)
		} else {
			parts = append(parts, p.Msg)
		}
	}
	return "Isthmus rejects this object and serves its last valid version: " + strings.Join(parts, "; ")
}

// sameStatus compares statuses, ignoring when conditions last changed.
func sameStatus(a, b *meta.IstioStatus) bool {
	strip := func(s *meta.IstioStatus) *meta.IstioStatus {
		c := proto.Clone(s).(*meta.IstioStatus)
		if c == nil {
			c = &meta.IstioStatus{}
		}
		for _, cond := range c.Conditions {
			cond.LastTransitionTime, cond.LastProbeTime = nil, nil
		}
		return c
	}
	return proto.Equal(strip(a), strip(b))
}

// writeStatuses writes the queued statuses until ctx ends.
func (s *Source) writeStatuses(ctx context.Context, queue <-chan statusUpdate) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-queue:
			if err := s.writeStatus(ctx, u); err != nil {
				s.logger.Warn("status of an Istio object not written", "object", fmt.Sprintf("%s %s/%s", u.kind.kind, u.namespace, u.name), "error", err)
			}
		}
	}
}

// writeStatus merge-patches an object's status subresource.
func (s *Source) writeStatus(ctx context.Context, u statusUpdate) error {
	// Empty lists are written too: a merge patch leaves out what it omits.
	js, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(u.status)
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]json.RawMessage{"status": js})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, statusWriteTimeout)
	defer cancel()
	return s.restClient(u.kind).Patch(types.MergePatchType).Namespace(u.namespace).Resource(u.kind.resource).
		Name(u.name).SubResource("status").Body(patch).Do(ctx).Error()
}

// restClient is the client of k's API group.
func (s *Source) restClient(k kind) rest.Interface {
	switch k.group {
	case "security.istio.io":
		return s.client.SecurityV1().RESTClient()
	case "telemetry.istio.io":
		return s.client.TelemetryV1().RESTClient()
	}
	return s.client.NetworkingV1().RESTClient()
}

// kindOf is the watched kind of k.
func kindOf(k policy.Kind) (kind, bool) {
	i := slices.IndexFunc(kinds, func(kk kind) bool { return kk.kind == k })
	if i < 0 {
		return kind{}, false
	}
	return kinds[i], true
}
