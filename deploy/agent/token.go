package agent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// tokenServiceAccount reads, WITHOUT verifying the token, the namespace and
// service account of its subject system:serviceaccount:NS:SA. Only the CA's
// review of the token counts; this just names what to ask for.
func tokenServiceAccount(token string) (ns, sa string, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", "", errors.New("the token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", "", fmt.Errorf("the token's payload: %w", err)
	}
	var body struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return "", "", fmt.Errorf("the token's payload: %w", err)
	}
	rest, ok := strings.CutPrefix(body.Sub, "system:serviceaccount:")
	if ns, sa, ok2 := strings.Cut(rest, ":"); ok && ok2 && ns != "" && sa != "" && !strings.Contains(sa, ":") {
		return ns, sa, nil
	}
	return "", "", fmt.Errorf("the token's subject %q is not system:serviceaccount:NAMESPACE:NAME", body.Sub)
}
