package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

const durationName = "google.protobuf.Duration"

// normalizeSpec prepares the JSON of a spec for protojson, walking it along
// the message descriptor md:
//   - a field written with its proto name ("per_try_timeout") instead of its
//     JSON name ("perTryTimeout") is reported: Kubernetes only knows the
//     JSON names, so Istio rejects the proto spelling as an unknown field;
//   - durations written as Go durations ("1m30s", "24h"), which Istio
//     accepts, are rewritten to the seconds form protojson reads ("90s").
//
// It returns the JSON to decode, or the path of the misspelled field.
func normalizeSpec(md protoreflect.MessageDescriptor, js []byte) ([]byte, string) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return js, "" // protojson reports the syntax problem
	}
	if path := normalizeMessage(md, v); path != "" {
		return nil, path
	}
	out, err := json.Marshal(v)
	if err != nil {
		return js, ""
	}
	return out, ""
}

// normalizeMessage normalizes a JSON value holding message md in place.
func normalizeMessage(md protoreflect.MessageDescriptor, v any) string {
	obj, ok := v.(map[string]any)
	if !ok || strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		return ""
	}
	for _, name := range sortedMapKeys(obj) {
		fd := md.Fields().ByJSONName(name)
		if fd == nil {
			if md.Fields().ByTextName(name) != nil {
				return name
			}
			continue // protojson reports unknown fields with their position
		}
		if path := normalizeField(fd, obj, name); path != "" {
			return joinField(name, path)
		}
	}
	return ""
}

// normalizeField normalizes the value of one field of a JSON object.
func normalizeField(fd protoreflect.FieldDescriptor, obj map[string]any, name string) string {
	switch {
	case fd.IsMap():
		entries, _ := obj[name].(map[string]any)
		return normalizeMapValues(fd.MapValue(), entries)
	case fd.IsList():
		items, _ := obj[name].([]any)
		for i := range items {
			if path := normalizeSingular(fd, &items[i]); path != "" {
				return joinField(fmt.Sprintf("[%d]", i), path)
			}
		}
		return ""
	}
	v := obj[name]
	path := normalizeSingular(fd, &v)
	obj[name] = v
	return path
}

func normalizeMapValues(fd protoreflect.FieldDescriptor, entries map[string]any) string {
	for _, k := range sortedMapKeys(entries) {
		v := entries[k]
		if path := normalizeSingular(fd, &v); path != "" {
			return joinField(k, path)
		}
		entries[k] = v
	}
	return ""
}

// normalizeSingular normalizes one value of message type; other values are
// left alone.
func normalizeSingular(fd protoreflect.FieldDescriptor, v *any) string {
	md := fd.Message()
	if md == nil {
		return ""
	}
	if md.FullName() == durationName {
		*v = protojsonDuration(*v)
		return ""
	}
	return normalizeMessage(md, *v)
}

// protojsonDuration rewrites a Go duration string ("1m30s") into the form
// protojson reads ("90s"). Other values are returned unchanged, so that
// protojson reports them.
func protojsonDuration(v any) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return v
	}
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("%s%d.%09ds", sign, d/time.Second, d%time.Second)
}
