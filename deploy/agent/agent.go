package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	pb "istio.io/api/security/v1alpha1"

	"github.com/isthmus-mesh/isthmus/certs"
)

const (
	// DefaultTokenFile is where istio-agent reads the pod's projected
	// service-account token (audience istio-ca).
	DefaultTokenFile = "/var/run/secrets/tokens/istio-token"
	// DefaultRootCertFile is where the istio-ca-root-cert ConfigMap is mounted
	// in an Istio sidecar.
	DefaultRootCertFile = "/var/run/secrets/istio/root-cert.pem"
	// DefaultClusterID is Istio's default cluster id.
	DefaultClusterID = "Kubernetes"
	// DefaultTTL is the lifetime asked for, as istio-agent's SECRET_TTL.
	DefaultTTL = 24 * time.Hour

	// Files written in Options.OutputDir, named as istio-agent's OUTPUT_CERTS.
	CertChainFile = "cert-chain.pem"
	KeyFile       = "key.pem"
	RootCertFile  = "root-cert.pem"
)

// Options configure an Agent. Zero values take the defaults.
type Options struct {
	// CAAddress is HOST:PORT of Isthmus's secure port (required).
	CAAddress string
	// ServerName is the DNS name expected in its certificate, sent as SNI
	// (required; isthmus bootstrap's default is isthmus.istio-system.svc).
	ServerName string
	// RootCertFile holds the mesh roots, PEM (default DefaultRootCertFile).
	RootCertFile string
	// TokenFile holds the service-account token (default DefaultTokenFile).
	TokenFile string
	// ClusterID is sent as "ClusterID" metadata (default DefaultClusterID).
	ClusterID string
	// Identity asked for: TrustDomain defaults to certs.DefaultTrustDomain,
	// Namespace and ServiceAccount to the token's claims.
	Identity certs.Identity
	// OutputDir receives the files (required).
	OutputDir string
	// TTL is the lifetime asked for (default DefaultTTL); the CA may shorten it.
	TTL time.Duration
	// RequestTimeout bounds one request, connection included (default 30s).
	RequestTimeout time.Duration
	// MinRetry and MaxRetry bound the backoff between failed attempts
	// (default 1s and 1m); MinRetry is also the shortest wait before a renewal.
	MinRetry, MaxRetry time.Duration
	// Logger receives what Run does (default slog.Default()).
	Logger *slog.Logger
	// DialOptions are added to the gRPC client's (tests).
	DialOptions []grpc.DialOption
}

func (o Options) withDefaults() Options {
	if o.RootCertFile == "" {
		o.RootCertFile = DefaultRootCertFile
	}
	if o.TokenFile == "" {
		o.TokenFile = DefaultTokenFile
	}
	if o.ClusterID == "" {
		o.ClusterID = DefaultClusterID
	}
	if o.Identity.TrustDomain == "" {
		o.Identity.TrustDomain = certs.DefaultTrustDomain
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.MinRetry <= 0 {
		o.MinRetry = time.Second
	}
	if o.MaxRetry < o.MinRetry {
		o.MaxRetry = max(time.Minute, o.MinRetry)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Agent fetches and renews one workload's credential. It is not safe for
// concurrent use.
type Agent struct {
	opts Options
}

// New checks opts and returns an Agent; it connects to nothing yet.
func New(opts Options) (*Agent, error) {
	opts = opts.withDefaults()
	switch {
	case opts.CAAddress == "":
		return nil, errors.New("agent: no CA address")
	case opts.ServerName == "":
		return nil, errors.New("agent: no server name")
	case opts.OutputDir == "":
		return nil, errors.New("agent: no output directory")
	}
	return &Agent{opts: opts}, nil
}

// Credential is what Fetch wrote.
type Credential struct {
	ID        certs.Identity
	NotBefore time.Time
	NotAfter  time.Time
	// Received is when the CA's answer arrived.
	Received time.Time
}

// RenewAt is when Run renews: halfway from Received (or NotBefore, if
// later) to NotAfter.
func (c *Credential) RenewAt() time.Time {
	start := c.Received
	if c.NotBefore.After(start) {
		start = c.NotBefore
	}
	return start.Add(c.NotAfter.Sub(start) / 2)
}

// Fetch asks the CA once for a certificate and, if the answer holds,
// writes the files.
func (a *Agent) Fetch(ctx context.Context) (*Credential, error) {
	token, err := readToken(a.opts.TokenFile)
	if err != nil {
		return nil, err
	}
	id, err := a.identity(token)
	if err != nil {
		return nil, err
	}
	rootsPEM, roots, err := readRoots(a.opts.RootCertFile)
	if err != nil {
		return nil, err
	}
	key, csrPEM, err := newCSR(id)
	if err != nil {
		return nil, err
	}
	chain, err := a.call(ctx, token, roots, csrPEM)
	if err != nil {
		return nil, err
	}
	received := time.Now()
	leaf, chainPEM, err := checkChain(chain, key, id, roots, received)
	if err != nil {
		return nil, fmt.Errorf("certificate from %s: %w", a.opts.CAAddress, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := WriteFiles(a.opts.OutputDir, chainPEM, keyPEM, rootsPEM); err != nil {
		return nil, err
	}
	return &Credential{ID: id, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Received: received}, nil
}

// call sends one CreateCertificate and returns the answer's chain.
func (a *Agent) call(ctx context.Context, token string, roots *x509.CertPool, csrPEM []byte) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.RequestTimeout)
	defer cancel()
	creds := credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: a.opts.ServerName, MinVersion: tls.VersionTLS12})
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, a.opts.DialOptions...)
	conn, err := grpc.NewClient(a.opts.CAAddress, dial...)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", a.opts.CAAddress, err)
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token, "ClusterID", a.opts.ClusterID)
	resp, err := pb.NewIstioCertificateServiceClient(conn).CreateCertificate(ctx, &pb.IstioCertificateRequest{
		Csr:              string(csrPEM),
		ValidityDuration: int64(a.opts.TTL / time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", a.opts.CAAddress, err)
	}
	return resp.GetCertChain(), nil
}

// identity is the one asked for: the options', completed by the token's
// subject.
func (a *Agent) identity(token string) (certs.Identity, error) {
	id := a.opts.Identity
	if id.Namespace == "" || id.ServiceAccount == "" {
		ns, sa, err := tokenServiceAccount(token)
		if err != nil {
			return certs.Identity{}, fmt.Errorf("identity: no namespace and service account given, and %w", err)
		}
		if id.Namespace == "" {
			id.Namespace = ns
		}
		if id.ServiceAccount == "" {
			id.ServiceAccount = sa
		}
	}
	if err := id.Validate(); err != nil {
		return certs.Identity{}, fmt.Errorf("identity %s: %w", id, err)
	}
	return id, nil
}

func readToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("token: %s is empty", path)
	}
	return token, nil
}

func readRoots(path string) ([]byte, *x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("mesh roots: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, nil, fmt.Errorf("mesh roots: no certificate in %s", path)
	}
	return data, pool, nil
}

// newCSR generates an ECDSA P-256 key and a CSR for id, as istio-agent's:
// the SPIFFE ID as the only SAN.
func newCSR(id certs.Identity) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	uri, err := url.Parse(id.SPIFFEID())
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{uri}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("CSR: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// checkChain parses the CA's answer (leaf first, root last) and checks it;
// it returns the leaf and the PEM to write: leaf and intermediates.
func checkChain(chain []string, key *ecdsa.PrivateKey, id certs.Identity, roots *x509.CertPool, now time.Time) (*x509.Certificate, []byte, error) {
	var parsed []*x509.Certificate
	for _, elem := range chain {
		cs, err := certs.DecodeCertificates([]byte(elem))
		if err != nil {
			return nil, nil, err
		}
		parsed = append(parsed, cs...)
	}
	if len(parsed) == 0 {
		return nil, nil, errors.New("no certificate in the answer")
	}
	leaf := parsed[0]
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, errors.New("the certificate is not for the key sent")
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != id.SPIFFEID() {
		return nil, nil, fmt.Errorf("the certificate names %v, not %s", leaf.URIs, id)
	}
	// The chain to write: drop the trailing self-signed roots (during a
	// root rotation the answer ends with the old and the new ones).
	keep := parsed
	for n := len(keep); n > 1 && certs.IsSelfSigned(keep[n-1]); n-- {
		keep = keep[:n-1]
	}
	inter := x509.NewCertPool()
	for _, c := range keep[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, nil, fmt.Errorf("does not verify against the mesh roots: %w", err)
	}
	return leaf, certs.EncodeCertificates(keep...), nil
}

// DataLink is the symbolic link in the output directory to the
// subdirectory holding the current files; each file in the output
// directory is a symbolic link through it (cert-chain.pem ->
// ..data/cert-chain.pem), as the kubelet lays out projected volumes.
const DataLink = "..data"

// versionPrefix starts the name of each version's subdirectory.
const versionPrefix = ".."

// WriteFiles writes a credential into dir so that a reader never sees a
// key beside another key's certificate: the three files go into a new
// subdirectory ..TIMESTAMP.RANDOM, then the ..data link is renamed onto
// it in one step (an Envoy watching dir reloads on that rename), the
// files of dir are made links through ..data (replacing plain files of an
// earlier layout, each by rename), and the previous versions are removed.
func WriteFiles(dir string, chainPEM, keyPEM, rootsPEM []byte) error {
	if err := writeFiles(dir, chainPEM, keyPEM, rootsPEM); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

func writeFiles(dir string, chainPEM, keyPEM, rootsPEM []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	version, err := os.MkdirTemp(dir, versionPrefix+time.Now().UTC().Format("2006_01_02_15_04_05.000000000")+".")
	if err != nil {
		return err
	}
	if err := os.Chmod(version, 0o755); err != nil {
		os.RemoveAll(version)
		return err
	}
	files := []struct {
		name string
		data []byte
		perm os.FileMode
	}{{KeyFile, keyPEM, 0o600}, {CertChainFile, chainPEM, 0o644}, {RootCertFile, rootsPEM, 0o644}}
	for _, f := range files {
		if err := writeNew(filepath.Join(version, f.name), f.data, f.perm); err != nil {
			os.RemoveAll(version)
			return err
		}
	}
	if err := syncDir(version); err != nil {
		os.RemoveAll(version)
		return err
	}
	if err := replaceLink(dir, DataLink, filepath.Base(version)); err != nil {
		os.RemoveAll(version)
		return err
	}
	for _, f := range files {
		target := filepath.Join(DataLink, f.name)
		if cur, err := os.Readlink(filepath.Join(dir, f.name)); err == nil && cur == target {
			continue
		}
		if err := replaceLink(dir, f.name, target); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	removeOldVersions(dir, filepath.Base(version))
	return nil
}

// replaceLink makes dir/name a symbolic link to target, by renaming a new
// link over whatever was there.
func replaceLink(dir, name, target string) error {
	tmp := filepath.Join(dir, name+"_tmp")
	os.Remove(tmp) // left by an interrupted write
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// removeOldVersions removes the version subdirectories but current,
// and temporary files of the earlier layout.
func removeOldVersions(dir, current string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir() && strings.HasPrefix(name, versionPrefix) && name != current && name != DataLink:
			os.RemoveAll(filepath.Join(dir, name))
		case !e.IsDir() && isEarlierTemp(name):
			os.Remove(filepath.Join(dir, name))
		}
	}
}

func isEarlierTemp(name string) bool {
	for _, f := range []string{KeyFile, CertChainFile, RootCertFile} {
		if strings.HasPrefix(name, "."+f+".") {
			return true
		}
	}
	return false
}

func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	err = f.Chmod(perm) // whatever the umask
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
