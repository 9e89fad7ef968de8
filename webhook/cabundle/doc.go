// Package cabundle keeps the caBundle of Isthmus's webhook configurations
// equal to the mesh roots, so that the Kubernetes API server trusts the
// certificate Isthmus serves its webhooks with (issued by the mesh CA).
//
// Contract:
//   - Set writes caBundle into every webhook's clientConfig of one
//     ValidatingWebhookConfiguration or MutatingWebhookConfiguration, by
//     name, and reports whether it changed anything; a configuration whose
//     webhooks already hold caBundle is not written. A conflicting update
//     is retried with the configuration read again.
//   - Run calls Set for each configuration named in Options at start, then
//     every Options.Interval when the roots changed or the last attempt
//     failed, until its context ends. A configuration that does not exist
//     (yet), or an API server that refuses, is logged (once per distinct
//     error) and retried; it never ends Run.
package cabundle
