// Package debounce coalesces bursts of change notifications, for whatever
// rebuilds on change: the configuration sources, the registries that
// rebuild a catalog, the assembler of snapshots and the xDS server that
// pushes them.
//
// Contract:
//   - Signal never blocks: a notification on a channel with room for one is
//     dropped when one is already pending.
//   - Loop calls its function once notifications have been quiet for the
//     quiet period, or once the maximum wait has passed since the first
//     notification not yet handled, whichever comes first; calls run one at
//     a time on Loop's goroutine, and Loop returns when its context ends.
//   - Defaults fills unset timings and keeps the maximum wait no shorter
//     than the quiet period.
package debounce
