package authn

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// claims are the parts of a JWT payload read WITHOUT verifying the token:
// they may only make Isthmus refuse early or cache for less, never accept.
type claims struct {
	audiences []string
	expiry    time.Time // zero: the token has no exp
}

// unverifiedClaims decodes the payload of a compact JWT (header.payload.signature).
func unverifiedClaims(token string) (claims, error) {
	if strings.Count(token, ".") != 2 {
		return claims{}, errors.New("not a JWT: want three dot-separated parts")
	}
	_, rest, _ := strings.Cut(token, ".")
	payload, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return claims{}, fmt.Errorf("not a JWT: payload: %w", err)
	}
	var body struct {
		Aud json.RawMessage `json:"aud"`
		Exp *float64        `json:"exp"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return claims{}, fmt.Errorf("not a JWT: payload: %w", err)
	}
	var c claims
	if c.audiences, err = parseAudiences(body.Aud); err != nil {
		return claims{}, err
	}
	if body.Exp != nil {
		if c.expiry, err = numericDate(*body.Exp); err != nil {
			return claims{}, err
		}
	}
	return c, nil
}

// parseAudiences reads "aud", a string or an array of strings (RFC 7519 4.1.3).
func parseAudiences(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New("JWT aud is neither a string nor an array of strings")
	}
	return many, nil
}

func numericDate(seconds float64) (time.Time, error) {
	if math.IsNaN(seconds) || seconds < 0 || seconds > 1<<40 {
		return time.Time{}, fmt.Errorf("JWT exp %v out of range", seconds)
	}
	whole, frac := math.Modf(seconds)
	return time.Unix(int64(whole), int64(frac*1e9)), nil
}
