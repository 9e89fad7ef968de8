package policy

import (
	"fmt"
	"strings"
	"testing"
)

// validationCase is one object to validate: spec is the YAML under "spec:"
// (indented by two spaces), and wantField the field path an error must name,
// or "" when the object must be accepted.
type validationCase struct {
	name      string
	kind      Kind
	spec      string
	wantField string
	meta      string // extra metadata lines, indented by two spaces
}

// runValidationCases decodes and validates each case, checking that accepted
// objects have no problem and rejected ones have one naming wantField.
func runValidationCases(t *testing.T, cases []validationCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := validateYAML(t, c)
			if c.wantField == "" {
				for _, e := range errs {
					t.Errorf("unexpected problem: %v", e)
				}
				return
			}
			for _, e := range errs {
				if e.Field == c.wantField {
					return
				}
			}
			t.Errorf("no problem at %s; got %v", c.wantField, errs)
		})
	}
}

func validateYAML(t *testing.T, c validationCase) []*ConfigError {
	t.Helper()
	doc := fmt.Sprintf("apiVersion: %s\nkind: %s\nmetadata:\n  name: test\n  namespace: ns\n%sspec:\n%s\n",
		APIVersions(c.kind)[0], c.kind, c.meta, c.spec)
	objs, errs := Decode("test.yaml", []byte(doc))
	if len(errs) != 0 || len(objs) != 1 {
		t.Fatalf("decode failed: %v\n%s", errs, doc)
	}
	verrs := Validate(objs[0])
	for _, e := range verrs {
		if e.Key != objs[0].Key || e.Source != objs[0].Source || !strings.HasPrefix(e.Field, "spec") && !strings.HasPrefix(e.Field, "metadata") {
			t.Errorf("problem does not identify object and field: %+v", e)
		}
	}
	return verrs
}
