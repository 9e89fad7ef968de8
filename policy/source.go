package policy

// ConfigSource is where Istio configuration comes from: a directory of
// files, the custom resources of a Kubernetes API server, and so on. Several
// sources are merged by Accept, in order of precedence.
type ConfigSource interface {
	// Name identifies the source in logs and errors, such as "files
	// /etc/isthmus" or "cluster config".
	Name() string
	// Definitions returns the source's current definitions, in its own
	// order of precedence, and the problems it found (an invalid object is
	// a Definition without Object plus a problem naming it). Safe for
	// concurrent use; the slices must not be modified.
	Definitions() ([]Definition, []*ConfigError)
	// Changes receives a value after Definitions has changed. Sends
	// coalesce.
	Changes() <-chan struct{}
	// Synced reports whether the source has delivered its first complete
	// set of definitions.
	Synced() bool
}
