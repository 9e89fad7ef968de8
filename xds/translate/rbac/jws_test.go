package rbac

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
)

// JSON Web Signatures for the Envoy tests, with the standard library only:
// compact JWS (RFC 7515) signed RS256 or ES256 (RFC 7518), and the public
// keys as a JWK Set (RFC 7517).

// jwsKey signs tokens with one key of a known kid.
type jwsKey struct {
	kid string
	rsa *rsa.PrivateKey   // RS256 when set
	ec  *ecdsa.PrivateKey // ES256 otherwise
}

func newRSAKey(t *testing.T, kid string) *jwsKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &jwsKey{kid: kid, rsa: k}
}

func newECKey(t *testing.T, kid string) *jwsKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &jwsKey{kid: kid, ec: k}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is the public key as a JWK.
func (k *jwsKey) jwk(t *testing.T) map[string]string {
	t.Helper()
	if k.rsa != nil {
		e := big.NewInt(int64(k.rsa.E)).Bytes()
		return map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.kid, "n": b64(k.rsa.N.Bytes()), "e": b64(e)}
	}
	pub, err := k.ec.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	point := pub.Bytes() // 0x04 || X || Y
	return map[string]string{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": k.kid, "x": b64(point[1:33]), "y": b64(point[33:])}
}

// jwks is a JWK Set of the public keys.
func jwks(t *testing.T, keys ...*jwsKey) string {
	t.Helper()
	var set []map[string]string
	for _, k := range keys {
		set = append(set, k.jwk(t))
	}
	doc, err := json.Marshal(map[string]any{"keys": set})
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

// sign returns the compact JWS of claims.
func (k *jwsKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	alg := "ES256"
	if k.rsa != nil {
		alg = "RS256"
	}
	header, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": k.kid})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	return input + "." + b64(k.signature(t, digest[:]))
}

func (k *jwsKey) signature(t *testing.T, digest []byte) []byte {
	t.Helper()
	if k.rsa != nil {
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, digest)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	r, s, err := ecdsa.Sign(rand.Reader, k.ec, digest)
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64) // R || S, 32 bytes each
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}
