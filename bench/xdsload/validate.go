package xdsload

import (
	"fmt"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	// Typed configs a sidecar's resources commonly carry; registering them
	// lets inspect check them as Envoy would. Types not registered here
	// (for example Istio's own filters) are accepted unchecked, as
	// istio-proxy knows them.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// validator is implemented by every Envoy message (protoc-gen-validate).
type validator interface{ Validate() error }

// inspection is what inspecting a resource collects: the route
// configurations its HTTP connection managers fetch over RDS and the
// secrets it fetches over ADS.
type inspection struct {
	routes  []string
	secrets []string
}

// inspect runs msg's Validate() and then that of every typed config
// (google.protobuf.Any) nested anywhere inside it whose type is known,
// and collects on the way the names msg makes Envoy subscribe to.
func inspect(msg proto.Message) (inspection, error) {
	var in inspection
	err := in.validate(msg)
	return in, err
}

func (in *inspection) validate(msg proto.Message) error {
	if v, ok := msg.(validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return in.walk(msg.ProtoReflect(), "")
}

// note collects what one message references.
func (in *inspection) note(m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *hcmv3.HttpConnectionManager:
		if rds := v.GetRds(); rds != nil {
			in.routes = append(in.routes, rds.GetRouteConfigName())
		}
	case *tlsv3.SdsSecretConfig:
		// A secret without an ADS config source comes from the bootstrap
		// or from another server (istio-agent's SDS socket), not from
		// the control plane under test.
		if v.GetName() != "" && v.GetSdsConfig().GetAds() != nil {
			in.secrets = append(in.secrets, v.GetName())
		}
	}
}

// walk visits every set message field of m, recursing, and validates
// the typed configs it finds. path names the field for error messages.
func (in *inspection) walk(m protoreflect.Message, path string) error {
	in.note(m)
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		err = in.walkField(fd, v, joinPath(path, string(fd.Name())))
		return err == nil
	})
	return err
}

func (in *inspection) walkField(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	switch {
	case fd.IsList():
		list := v.List()
		for i := 0; i < list.Len(); i++ {
			if err := in.walkMessage(list.Get(i).Message(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case fd.IsMap():
		if fd.MapValue().Kind() != protoreflect.MessageKind {
			return nil
		}
		var err error
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			err = in.walkMessage(mv.Message(), fmt.Sprintf("%s[%s]", path, k.String()))
			return err == nil
		})
		return err
	default:
		return in.walkMessage(v.Message(), path)
	}
	return nil
}

// walkMessage validates m if it is a known typed config, then recurses.
func (in *inspection) walkMessage(m protoreflect.Message, path string) error {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return in.walk(m, path)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(a.GetTypeUrl())
	if err != nil {
		return nil // a type this load generator does not know
	}
	inner := mt.New().Interface()
	if err := proto.Unmarshal(a.GetValue(), inner); err != nil {
		return fmt.Errorf("%s: decode %s: %w", path, a.GetTypeUrl(), err)
	}
	if err := in.validate(inner); err != nil {
		return fmt.Errorf("%s (%s): %w", path, a.GetTypeUrl(), err)
	}
	return nil
}

func joinPath(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}
