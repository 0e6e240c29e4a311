// Package watch implements `dagster-dev watch` (issue 7): it keeps the env
// values and the ConfigMap/Secret sources declared in dagster-dev.yaml in
// sync with the cluster, and restarts exactly the workloads that read what
// changed. No tool it is compared with does the restart part (Tilt, Skaffold
// and DevSpace re-apply ConfigMaps but leave running pods on the old values).
//
// The ConfigMap/Secret domain (file formats, apply, which workloads read
// what, restart planning) is package sources; this package is the
// long-running loop around it: file watching, debouncing, the lease,
// retries, reporting, and chart upgrades for values. stack.Watch assembles
// it for the CLI (kube connection, Helm release, rollout waiter).
//
// # What is synced, and how
//
//   - Sources (watch.sources): each file is loaded with sources.LoadSource
//     and applied through a sources.Syncer: one ConfigMap or Secret per
//     source, server-side applied, then every workload that reads a changed
//     one gets sources.HashAnnotation on its pod template, so it rolls
//     exactly when the content it reads changed. See package sources for
//     the formats and the restart rule.
//   - Env values (watch.env dotenv files → dagit.env / job_runner.env) and
//     every other chart value (valuesFiles, values) go through a chart
//     upgrade with internal/values.For, the same values `up` installs, so
//     the two never undo each other. The chart's checksum annotations roll
//     exactly the workloads whose rendered config changed; watch finds them
//     by comparing pod templates before and after the upgrade.
//
// # Bad input
//
// A source that fails to load (syntax error with file:line, invalid key or
// name, over 1 MiB, binary, deleted) is reported and skipped: its object
// keeps its last content, nothing restarts, and the next save that fixes it
// is applied. The same holds for a values file or env dotenv file: no chart
// upgrade until it parses. Messages never include values of the files.
//
// # File watching
//
// Parent directories are watched, never single files, because editors save
// by writing a temp file and renaming it over the original. Editor temp
// files (sources.IsEditorTemp) are ignored. Events are debounced: a batch is
// synced after watch.debounce (200 ms) without events, or 10 debounce
// periods after its first event during a continuous stream. Batches that
// arrive while a sync runs are merged, so a burst of writes is applied once
// with the final content.
//
// # One watch per environment
//
// Run takes the coordination.k8s.io Lease LeaseName in the namespace,
// renews it every 5 s, and deletes it on exit; a second watch is refused
// with ErrAlreadyWatching naming the holder. A killed watch's lease expires
// after 15 s. Sync (--once) and sources.ApplySources (`up`) take no lease:
// they are short and idempotent (they converge to the files, whoever runs
// them).
//
// # Failure handling
//
// While the API server is unreachable (connection refused, timeouts, 5xx,
// 429: kube.Transient) a sync is retried with backoff from 0.5 s to 5 s,
// re-reading the files each time, and each retry is reported. Cancelling the
// context (Ctrl-C) stops everything and returns nil.
//
// A rollout that fails (a pod crash-loops, a Secret it reads was deleted, the
// node's disk is full) is reported with its cause, and then followed
// (readiness.WaitRecovered): Kubernetes keeps retrying it, and when it
// succeeds without a new save (the Secret is back, space was freed)
// watch reports that the workload recovered. A later change that restarts
// the same workload takes the follow over.
package watch
