package certs

import (
	"crypto/x509"
	"fmt"
	"time"
)

// caAPIRecord is, for each CA SignCSR signed with, the latest NotAfter of
// those certificates: all a root rotation needs to know about certificates
// the Issuer hands out but does not keep. Entries leave once that time has
// passed, so it holds one entry per CA whose CA-API certificates may still
// be in use.
type caAPIRecord map[*CA]time.Time

// add records a certificate of ca valid until notAfter, forgetting the
// CAs whose certificates all expired by now.
func (r caAPIRecord) add(ca *CA, notAfter, now time.Time) {
	r.forgetExpired(now)
	r[ca] = latest(r[ca], notAfter)
}

func (r caAPIRecord) forgetExpired(now time.Time) {
	for ca, notAfter := range r {
		if !now.Before(notAfter) {
			delete(r, ca)
		}
	}
}

// until is when the last certificate of a CA whose roots are not all in
// keep expires; zero when none is still valid at now.
func (r caAPIRecord) until(now time.Time, keep []*x509.Certificate) time.Time {
	r.forgetExpired(now)
	var until time.Time
	for ca, notAfter := range r {
		roots, _ := parseCerts(ca.RootsPEM()) // a CA's roots were parsed when it was made
		if !containsAll(keep, roots) {
			until = latest(until, notAfter)
		}
	}
	return until
}

// signCSRAttempts bounds SignCSR's retries: each one needs a whole root
// rotation to end while a CSR is signed.
const signCSRAttempts = 3

// SignCSR signs csr for id with the current CA (see CA.SignCSR), so that
// the Issuer serves as caservice's Signer across rotations. The Issuer
// remembers until when each CA's CA-API certificates are valid, and keeps
// a CA's roots in ROOTCA until then (see Rotate).
func (i *Issuer) SignCSR(csr *x509.CertificateRequest, id Identity, ttl time.Duration) (*Certificate, error) {
	for range signCSRAttempts {
		ca, drops := i.csrSigner()
		cert, err := ca.signCSR(csr, id, ttl, i.opts.Now())
		if err != nil {
			return nil, err
		}
		if i.recordCSR(ca, drops, cert.NotAfter) {
			return cert, nil
		}
	}
	return nil, fmt.Errorf("sign CSR for %s: the CA's roots kept leaving ROOTCA while signing", id)
}

// csrSigner is the CA SignCSR signs with, and how many drops of old roots
// happened so far.
func (i *Issuer) csrSigner() (*CA, uint64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.trust.signing, i.trust.drops
}

// recordCSR records a CA-API certificate of ca, unless old roots were
// dropped since ca was chosen (then ca's roots may be gone: sign again).
func (i *Issuer) recordCSR(ca *CA, drops uint64, notAfter time.Time) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.trust.drops != drops && ca != i.trust.signing {
		return false
	}
	i.trust.caAPI.add(ca, notAfter, i.opts.Now())
	return true
}
