package policy

import "fmt"

// Definition is one definition of an object by a configuration source:
// Object is its decoded, valid version, or nil when the definition is
// invalid (the source reports why).
type Definition struct {
	Key    Key
	Source Source
	Object *Object
}

// Accept decides which version of each object to serve, from the versions
// served before (lastGood) and the current definitions, in order of
// precedence. It is a pure function:
//   - the first definition of a key wins; later ones are reported and
//     ignored;
//   - an invalid definition keeps the version served before, if any;
//   - a VirtualService that fails CheckReferences over the served set keeps
//     the version served before, or is left out;
//   - a key no longer defined is no longer served.
//
// Neither lastGood nor defs is modified.
func Accept(lastGood map[Key]*Object, defs []Definition) (map[Key]*Object, []*ConfigError) {
	chosen, problems := firstDefinitions(defs)
	served, refProblems := serveVersions(lastGood, chosen)
	return served, append(problems, refProblems...)
}

// firstDefinitions keeps the first definition of each key and reports the
// others, in order.
func firstDefinitions(defs []Definition) ([]Definition, []*ConfigError) {
	first := make(map[Key]int, len(defs)) // index in chosen
	chosen := make([]Definition, 0, len(defs))
	var problems []*ConfigError
	for _, d := range defs {
		if i, ok := first[d.Key]; ok {
			problems = append(problems, &ConfigError{Source: d.Source, Key: d.Key,
				Msg: fmt.Sprintf("already defined at %s; this definition is ignored", chosen[i].Source)})
			continue
		}
		first[d.Key] = len(chosen)
		chosen = append(chosen, d)
	}
	return chosen, problems
}

// serveVersions picks the version to serve for every chosen key: the valid
// definition, else the last served one. VirtualServices that fail
// CheckReferences fall back to their last served version, or are left out.
func serveVersions(lastGood map[Key]*Object, chosen []Definition) (map[Key]*Object, []*ConfigError) {
	versions := make(map[Key]*Object, len(chosen))
	ordered := make([]*Object, 0, len(chosen)) // in definition order, for stable problems
	for _, d := range chosen {
		o := d.Object
		if o == nil {
			o = lastGood[d.Key]
		}
		if o != nil {
			versions[d.Key] = o
			ordered = append(ordered, o)
		}
	}
	problems := CheckReferences(ordered)
	for _, p := range problems {
		if prev := lastGood[p.Key]; prev != nil {
			versions[p.Key] = prev
		} else {
			delete(versions, p.Key)
		}
	}
	return versions, problems
}
