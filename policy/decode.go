package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// Decode reads every YAML document of one file. Each document is an Istio
// object as users apply it to Kubernetes, or a "kind: List" of them. Unknown
// fields are errors, as with strict server-side validation. A document that
// fails does not stop the others; empty documents are skipped. Objects
// without a namespace land in DefaultNamespace. Decode checks the shape of the
// document only; Validate checks the meaning of the spec. A document larger
// than DefaultMaxDocumentBytes is an error and is not decoded.
func Decode(file string, data []byte) (objs []*Object, errs []*ConfigError) {
	return decodeLimited(file, data, DefaultMaxDocumentBytes)
}

// decodeLimited is Decode with a cap on the size of each document.
func decodeLimited(file string, data []byte, maxDocument int64) (objs []*Object, errs []*ConfigError) {
	for i, doc := range splitDocuments(data) {
		src := Source{File: file, Doc: i + 1}
		if err := documentTooLarge(src, doc, maxDocument); err != nil {
			errs = append(errs, err)
			continue
		}
		o, e := decodeDocument(src, doc)
		objs = append(objs, o...)
		errs = append(errs, e...)
	}
	return objs, errs
}

// decodeDocument decodes one YAML document, recovering from any panic in the
// YAML or JSON libraries so that a hostile document is only an error.
func decodeDocument(src Source, doc []byte) (objs []*Object, errs []*ConfigError) {
	defer func() {
		if r := recover(); r != nil {
			objs = nil
			errs = []*ConfigError{{Source: src, Msg: fmt.Sprintf("%s%v", panicMsg, r)}}
		}
	}()
	if isBlank(doc) {
		return nil, nil
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, []*ConfigError{{Source: src, Msg: "invalid YAML: " + err.Error()}}
	}
	if isNullJSON(js) {
		return nil, nil
	}
	return decodeJSONDocument(src, js)
}

// panicMsg starts the error reported when a library panics on a document.
const panicMsg = "cannot decode document: "

// envelope is the Kubernetes object around an Istio spec.
type envelope struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   metadata        `json:"metadata"`
	Spec       json.RawMessage `json:"spec"`
	Status     json.RawMessage `json:"status"`
}

// metadata keeps the ObjectMeta fields Isthmus uses; the others (uid,
// resourceVersion, managedFields...) are accepted and ignored.
type metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// topLevelFields are the fields a Kubernetes object may carry.
var topLevelFields = map[string]bool{
	"apiVersion": true, "kind": true, "metadata": true, "spec": true, "status": true,
}

// typeMeta identifies a document before the rest of it is read.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

func decodeJSONDocument(src Source, js []byte) ([]*Object, []*ConfigError) {
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, []*ConfigError{{Source: src, Field: jsonErrorField(err), Msg: "not a Kubernetes object: " + jsonErrorMsg(err)}}
	}
	if tm.Kind == "List" && tm.APIVersion == "v1" {
		return decodeList(src, js)
	}
	o, err := decodeObject(src, js, tm)
	if err != nil {
		return nil, []*ConfigError{err}
	}
	if o == nil {
		return nil, nil
	}
	return []*Object{o}, nil
}

// list is a Kubernetes "kind: List" document.
type list struct {
	Items []json.RawMessage `json:"items"`
}

// decodeList decodes the items of a "kind: List" document.
func decodeList(src Source, js []byte) (objs []*Object, errs []*ConfigError) {
	var l list
	if err := json.Unmarshal(js, &l); err != nil {
		return nil, []*ConfigError{{Source: src, Field: jsonErrorField(err), Msg: "not a List: " + jsonErrorMsg(err)}}
	}
	if field := checkFields(js, map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "items": true}); field != "" {
		errs = append(errs, &ConfigError{Source: src, Field: field, Msg: "unknown field"})
	}
	for i, item := range l.Items {
		o, err := decodeListItem(src, item)
		if err != nil {
			if err.Key.Kind == "" {
				err.Field = joinField(fmt.Sprintf("items[%d]", i), err.Field)
			}
			errs = append(errs, err)
			continue
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
	return objs, errs
}

func decodeListItem(src Source, item []byte) (*Object, *ConfigError) {
	var tm typeMeta
	if err := json.Unmarshal(item, &tm); err != nil {
		return nil, &ConfigError{Source: src, Field: jsonErrorField(err), Msg: "not a Kubernetes object: " + jsonErrorMsg(err)}
	}
	if tm.Kind == "List" {
		return nil, &ConfigError{Source: src, Field: "kind", Msg: "a List cannot contain a List"}
	}
	return decodeObject(src, item, tm)
}

// decodeObject builds an Object from one Kubernetes object. It returns
// (nil, nil) for documents Isthmus deliberately ignores.
func decodeObject(src Source, js []byte, tm typeMeta) (*Object, *ConfigError) {
	if ignoredKinds[tm.APIVersion+" "+tm.Kind] {
		return nil, nil
	}
	if tm.APIVersion == "" || tm.Kind == "" {
		return nil, &ConfigError{Source: src, Msg: "apiVersion and kind are required"}
	}
	info, ok := lookupKind(tm.APIVersion, Kind(tm.Kind))
	if !ok {
		return nil, unknownKindError(src, js, tm)
	}
	var env envelope
	if err := json.Unmarshal(js, &env); err != nil {
		key := bestEffortKey(js, tm)
		return nil, &ConfigError{Source: src, Key: key, Field: jsonErrorField(err), Msg: jsonErrorMsg(err)}
	}
	key := Key{Kind: Kind(tm.Kind), Namespace: env.Metadata.Namespace, Name: env.Metadata.Name}
	if key.Namespace == "" {
		key.Namespace = DefaultNamespace
	}
	if key.Name == "" {
		return nil, &ConfigError{Source: src, Key: key, Field: "metadata.name", Msg: "name is required"}
	}
	if field := checkFields(js, topLevelFields); field != "" {
		return nil, &ConfigError{Source: src, Key: key, Field: field, Msg: "unknown field"}
	}
	spec := info.newSpec()
	if !isNullJSON(env.Spec) {
		js, misspelled := normalizeSpec(spec.ProtoReflect().Descriptor(), env.Spec)
		if misspelled != "" {
			return nil, &ConfigError{Source: src, Key: key, Field: joinField("spec", misspelled), Msg: "unknown field (fields use their camelCase JSON names)"}
		}
		if err := (protojson.UnmarshalOptions{}).Unmarshal(js, spec); err != nil {
			return nil, specError(src, key, js, err)
		}
	}
	return &Object{
		Key:         key,
		APIVersion:  tm.APIVersion,
		Labels:      env.Metadata.Labels,
		Annotations: env.Metadata.Annotations,
		Spec:        spec,
		Source:      src,
	}, nil
}

// bestEffortKey identifies a document whose metadata may be malformed.
func bestEffortKey(js []byte, tm typeMeta) Key {
	var m struct {
		Metadata struct {
			Name      any `json:"name"`
			Namespace any `json:"namespace"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(js, &m)
	key := Key{Kind: Kind(tm.Kind), Namespace: DefaultNamespace}
	if s, ok := m.Metadata.Name.(string); ok {
		key.Name = s
	}
	if s, ok := m.Metadata.Namespace.(string); ok && s != "" {
		key.Namespace = s
	}
	return key
}

func unknownKindError(src Source, js []byte, tm typeMeta) *ConfigError {
	key := bestEffortKey(js, tm)
	if versions := APIVersions(Kind(tm.Kind)); versions != nil {
		return &ConfigError{Source: src, Key: key, Field: "apiVersion",
			Msg: fmt.Sprintf("apiVersion %q is not served for kind %s (want one of %s)", tm.APIVersion, tm.Kind, strings.Join(versions, ", "))}
	}
	return &ConfigError{Source: src, Key: key, Field: "kind",
		Msg: fmt.Sprintf("unknown kind %s (apiVersion %q); Isthmus reads Istio networking, security and telemetry kinds", tm.Kind, tm.APIVersion)}
}

// checkFields returns the first top-level field of the JSON object js that is
// not allowed, or "".
func checkFields(js []byte, allowed map[string]bool) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(js, &fields) != nil {
		return ""
	}
	var bad []string
	for f := range fields {
		if !allowed[f] {
			bad = append(bad, f)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return firstString(bad)
}

func firstString(s []string) string {
	min := s[0]
	for _, v := range s[1:] {
		if v < min {
			min = v
		}
	}
	return min
}

func isBlank(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

func isNullJSON(js []byte) bool {
	js = bytes.TrimSpace(js)
	return len(js) == 0 || string(js) == "null"
}

func joinField(prefix, field string) string {
	switch {
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}
