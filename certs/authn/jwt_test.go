package authn

import (
	"slices"
	"testing"
	"time"
)

func TestUnverifiedClaims(t *testing.T) {
	exp := time.Unix(1900000000, 0)
	cases := map[string]struct {
		claims map[string]any
		aud    []string
	}{
		"aud string":     {map[string]any{"aud": "istio-ca", "exp": exp.Unix()}, []string{"istio-ca"}},
		"aud array":      {map[string]any{"aud": []string{"a", "istio-ca"}, "exp": exp.Unix()}, []string{"a", "istio-ca"}},
		"fractional exp": {map[string]any{"aud": "x", "exp": float64(exp.Unix()) + 0.5}, []string{"x"}},
	}
	for name, c := range cases {
		got, err := unverifiedClaims(unsignedJWT(t, c.claims))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !slices.Equal(got.audiences, c.aud) || got.expiry.Unix() != exp.Unix() {
			t.Errorf("%s: aud %q exp %v, want %q %v", name, got.audiences, got.expiry, c.aud, exp)
		}
	}
	none, err := unverifiedClaims(unsignedJWT(t, map[string]any{"sub": "x"}))
	if err != nil || none.audiences != nil || !none.expiry.IsZero() {
		t.Errorf("no aud, no exp: %+v, %v", none, err)
	}
}

func TestUnverifiedClaimsRejects(t *testing.T) {
	for name, token := range map[string]string{
		"two parts":      "a.b",
		"four parts":     "a.b.c.d",
		"payload base64": "a.!!!.c",
		"payload json":   "a.bm90IGpzb24.c",
		"aud number":     unsignedJWT(t, map[string]any{"aud": 7}),
		"exp negative":   unsignedJWT(t, map[string]any{"exp": -1}),
		"exp string":     unsignedJWT(t, map[string]any{"exp": "tomorrow"}),
	} {
		if _, err := unverifiedClaims(token); err == nil {
			t.Errorf("%s: %q accepted", name, token)
		}
	}
}
