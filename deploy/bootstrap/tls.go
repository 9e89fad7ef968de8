package bootstrap

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

// DefaultXDSServerName is the name Envoy expects in the certificate of
// Isthmus's secure port, the first of its default DNS names.
const DefaultXDSServerName = "isthmus.istio-system.svc"

// The xds-grpc cluster takes its client certificate and the mesh roots
// from two file-based SDS sources, files in XDSTLS.SDSDir naming the PEM
// files. Envoy reloads the PEM files of a secret delivered this way when
// their directory changes; it never reloads files named in a static
// cluster's TLS context or in bootstrap static secrets.
const (
	// ClientCertSecret and RootsSecret name the secrets.
	ClientCertSecret = "xds-client-cert"
	RootsSecret      = "xds-roots"
	// ClientCertSDSFile and RootsSDSFile are the SDS files in SDSDir.
	ClientCertSDSFile = "xds-client-cert.sds.yaml"
	RootsSDSFile      = "xds-roots.sds.yaml"
)

// sdsDir is where t's SDS files go: SDSDir, else the client certificate's
// directory, else the roots'.
func (t *XDSTLS) sdsDir() string {
	switch {
	case t.SDSDir != "":
		return t.SDSDir
	case t.CertChain != "":
		return filepath.Dir(t.CertChain)
	default:
		return filepath.Dir(t.RootCert)
	}
}

func checkTLS(t *XDSTLS) error {
	if t.RootCert == "" {
		return &OptionError{Option: "TLS", Err: fmt.Errorf("the secure port needs the mesh roots (a root certificate file)")}
	}
	if (t.CertChain == "") != (t.PrivateKey == "") {
		return &OptionError{Option: "TLS", Err: fmt.Errorf("a client certificate needs both its chain and its key")}
	}
	return nil
}

// xdsTLSParams pin the xds-grpc connection to TLS 1.3. It carries every
// workload key the proxy is given (SDS), so it takes the hybrid
// post-quantum key exchange (X25519MLKEM768) Envoy offers only over TLS
// 1.3: a recording of the link cannot be decrypted later to recover those
// keys. Left to its defaults, Envoy stops at TLS 1.2 and X25519 as a client.
var xdsTLSParams = &tlsv3.TlsParameters{
	TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
	TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3,
}

// xdsTransportSocket is the TLS of the xds-grpc cluster; nil without t.
func xdsTransportSocket(t *XDSTLS) (*corev3.TransportSocket, error) {
	if t == nil {
		return nil, nil
	}
	if err := checkTLS(t); err != nil {
		return nil, err
	}
	name := t.ServerName
	if name == "" {
		name = DefaultXDSServerName
	}
	dir := t.sdsDir()
	ctx := &tlsv3.UpstreamTlsContext{Sni: name, CommonTlsContext: &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"},
		TlsParams:     xdsTLSParams,
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext: &tlsv3.CertificateValidationContext{
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: tlsv3.SubjectAltNameMatcher_DNS,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: name}},
				}},
			},
			ValidationContextSdsSecretConfig: fileSDS(RootsSecret, filepath.Join(dir, RootsSDSFile)),
		}},
	}}
	if t.CertChain != "" {
		ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{
			fileSDS(ClientCertSecret, filepath.Join(dir, ClientCertSDSFile)),
		}
	}
	typed, err := anypb.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("xds-grpc TLS: %w", err)
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typed}}, nil
}

func fileSDS(name, path string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{Path: path}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}}
}

// SDSFiles returns the SDS files the bootstrap for t refers to, by path:
// the client certificate's secret (when t has one) and the roots'. Each
// secret names its PEM files and watches their directory, so that Envoy
// reads them again whenever an entry is moved into it: replacing the
// files by rename, or swapping a ..data symlink the files point through
// (see package agent). Envoy reads the chain and key together and takes
// them only if neither changed while it read.
func SDSFiles(t *XDSTLS) (map[string][]byte, error) {
	if err := checkTLS(t); err != nil {
		return nil, err
	}
	dir := t.sdsDir()
	roots := &tlsv3.Secret{Name: RootsSecret, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa:        fileSource(t.RootCert),
		WatchedDirectory: &corev3.WatchedDirectory{Path: filepath.Dir(t.RootCert)},
	}}}
	out := map[string][]byte{}
	var err error
	if out[filepath.Join(dir, RootsSDSFile)], err = sdsFile(roots); err != nil {
		return nil, err
	}
	if t.CertChain != "" {
		cert := &tlsv3.TlsCertificate{CertificateChain: fileSource(t.CertChain), PrivateKey: fileSource(t.PrivateKey)}
		// One watched directory reloads the pair together; with the chain
		// and key in different directories, Envoy watches each file's own.
		if d := filepath.Dir(t.CertChain); d == filepath.Dir(t.PrivateKey) {
			cert.WatchedDirectory = &corev3.WatchedDirectory{Path: d}
		}
		secret := &tlsv3.Secret{Name: ClientCertSecret, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: cert}}
		if out[filepath.Join(dir, ClientCertSDSFile)], err = sdsFile(secret); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sdsFile is a DiscoveryResponse holding secret, as YAML.
func sdsFile(secret *tlsv3.Secret) ([]byte, error) {
	if err := secret.Validate(); err != nil {
		return nil, fmt.Errorf("secret %s: %w", secret.Name, err)
	}
	res, err := anypb.New(secret)
	if err != nil {
		return nil, err
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(&discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{res}})
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", secret.Name, err)
	}
	return yaml.JSONToYAML(js)
}

// WriteSDSFiles writes SDSFiles(t), each to a temporary file renamed over
// the old one; a file that already holds the same bytes is left alone.
func WriteSDSFiles(t *XDSTLS) error {
	files, err := SDSFiles(t)
	if err != nil {
		return err
	}
	for path, data := range files {
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := writeAtomic(path, data); err != nil {
			return fmt.Errorf("SDS file: %w", err)
		}
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o644)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func fileSource(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}
