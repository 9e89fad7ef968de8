package policy

import (
	telemetry "istio.io/api/telemetry/v1alpha1"
)

func (c *checker) telemetry(t *telemetry.Telemetry) {
	c.policyTargets(t.GetSelector(), t.GetTargetRef(), t.GetTargetRefs())
	for i, m := range t.GetMetrics() {
		c.telemetryMetrics(index("spec.metrics", i), m)
	}
	for i, tr := range t.GetTracing() {
		c.telemetryTracing(index("spec.tracing", i), tr)
	}
	for i, l := range t.GetAccessLogging() {
		if l != nil {
			c.providers(field(index("spec.accessLogging", i), "providers"), l.GetProviders())
		}
	}
}

func (c *checker) providers(p string, providers []*telemetry.ProviderRef) {
	for i, pr := range providers {
		if pr.GetName() == "" {
			c.add(field(index(p, i), "name"), "provider name is required")
		}
	}
}

func (c *checker) telemetryMetrics(p string, m *telemetry.Metrics) {
	if m == nil {
		return
	}
	c.providers(field(p, "providers"), m.GetProviders())
	for i, o := range m.GetOverrides() {
		op := index(field(p, "overrides"), i)
		if o == nil {
			c.add(op, "override must not be null")
			continue
		}
		if cm, ok := o.GetMatch().GetMetricMatch().(*telemetry.MetricSelector_CustomMetric); ok && cm.CustomMetric == "" {
			c.add(field(op, "match.customMetric"), "customMetric must not be empty")
		}
		c.tagOverrides(field(op, "tagOverrides"), o.GetTagOverrides())
	}
}

func (c *checker) tagOverrides(p string, overrides map[string]*telemetry.MetricsOverrides_TagOverride) {
	for _, name := range sortedMapKeys(overrides) {
		to := overrides[name]
		tp := mapKey(p, name)
		switch {
		case to == nil:
			c.add(tp, "tag override must not be null")
		case to.GetOperation() == telemetry.MetricsOverrides_TagOverride_UPSERT && to.GetValue() == "":
			c.add(field(tp, "value"), "value is required when operation is UPSERT")
		case to.GetOperation() == telemetry.MetricsOverrides_TagOverride_REMOVE && to.GetValue() != "":
			c.add(field(tp, "value"), "value must not be set when operation is REMOVE")
		}
	}
}

func (c *checker) telemetryTracing(p string, t *telemetry.Tracing) {
	if t == nil {
		return
	}
	c.providers(field(p, "providers"), t.GetProviders())
	if v := t.GetRandomSamplingPercentage().GetValue(); v < 0 || v > 100 {
		c.add(field(p, "randomSamplingPercentage"), "must be in the range 0..100")
	}
	for _, name := range sortedMapKeys(t.GetCustomTags()) {
		c.customTag(mapKey(field(p, "customTags"), name), t.GetCustomTags()[name])
	}
}

func (c *checker) customTag(p string, tag *telemetry.Tracing_CustomTag) {
	switch t := tag.GetType().(type) {
	case *telemetry.Tracing_CustomTag_Literal:
		if t.Literal.GetValue() == "" {
			c.add(field(p, "literal.value"), "literal value must not be empty")
		}
	case *telemetry.Tracing_CustomTag_Header:
		if t.Header.GetName() == "" {
			c.add(field(p, "header.name"), "header name must not be empty")
		}
	case *telemetry.Tracing_CustomTag_Environment:
		if t.Environment.GetName() == "" {
			c.add(field(p, "environment.name"), "environment variable name must not be empty")
		}
	default:
		c.add(p, "a custom tag needs literal, header or environment")
	}
}
