package bench

import (
	"errors"
	"fmt"

	"github.com/isthmus-mesh/isthmus/assemble"
	"github.com/isthmus-mesh/isthmus/bench/meshgen"
	"github.com/isthmus-mesh/isthmus/policy"
	"github.com/isthmus-mesh/isthmus/xds/model"
)

// Mesh is a generated mesh decoded into Istio objects, ready to be turned
// into snapshots, with some services replaced by changed versions.
type Mesh struct {
	Spec meshgen.Spec
	// objects holds each file's objects by file path.
	objects map[string][]*policy.Object
	order   []string
}

// DecodeMesh generates spec and decodes every file, failing on any problem
// Isthmus would report.
func DecodeMesh(spec meshgen.Spec) (*Mesh, error) {
	files, err := spec.Files()
	if err != nil {
		return nil, err
	}
	m := &Mesh{Spec: spec, objects: map[string][]*policy.Object{}}
	for _, f := range files {
		if err := m.Set(f); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Set replaces (or adds) one file of the mesh.
func (m *Mesh) Set(f meshgen.File) error {
	objs, errs := policy.Decode(f.Path, f.Data)
	for _, o := range objs {
		errs = append(errs, policy.Validate(o)...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("generated mesh: %w", joinConfigErrors(errs))
	}
	if _, ok := m.objects[f.Path]; !ok {
		m.order = append(m.order, f.Path)
	}
	m.objects[f.Path] = objs
	return nil
}

// SetService replaces a service's file with its current state.
func (m *Mesh) SetService(svc *meshgen.Service) error {
	return m.Set(meshgen.File{Path: svc.File(), Data: svc.YAML()})
}

// Snapshot builds the snapshot Isthmus serves for the mesh as it is now:
// its Config and the catalog of its ServiceEntries.
func (m *Mesh) Snapshot(version uint64) (*model.Snapshot, error) {
	var objs []*policy.Object
	for _, path := range m.order {
		objs = append(objs, m.objects[path]...)
	}
	if errs := policy.CheckReferences(objs); len(errs) > 0 {
		return nil, fmt.Errorf("generated mesh: %w", joinConfigErrors(errs))
	}
	cfg := policy.NewConfig(objs)
	return assemble.Build(version, cfg, assemble.Settings{}), nil
}

// MeshSnapshot generates spec and builds its snapshot.
func MeshSnapshot(spec meshgen.Spec, version uint64) (*model.Snapshot, error) {
	m, err := DecodeMesh(spec)
	if err != nil {
		return nil, err
	}
	return m.Snapshot(version)
}

func joinConfigErrors(errs []*policy.ConfigError) error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}
