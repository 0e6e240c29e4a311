// Package watch implements `dagster-dev watch` (issue 7): it keeps the env
// values and the ConfigMap/Secret sources declared in dagster-dev.yaml in
// sync with the cluster, and restarts exactly the workloads that read what
// changed. No tool it is compared with does the restart part (Tilt, Skaffold
// and DevSpace re-apply ConfigMaps but leave running pods on the old values).
//
// # What is synced, and how
//
//   - Sources (watch.sources): each becomes one ConfigMap or Secret, applied
//     with server-side apply (field manager "dagster-dev", conflicts forced:
//     the file is the source of truth). Then every Deployment and
//     StatefulSet of the namespace whose live pod template references a
//     changed object (envFrom, env valueFrom, volumes including projected
//     ones) gets HashAnnotation on its pod template: a sha256 over the
//     content of the watched objects it reads. Equal content means an equal
//     hash, so a save without changes, or restarting watch, restarts
//     nothing. Job pods are not restarted: each Dagster run starts a new pod
//     that reads the current values.
//   - Env values (watch.env dotenv files → dagit.env / job_runner.env) and
//     every other chart value (valuesFiles, values) go through a chart
//     upgrade with internal/values.For, the same values `up` installs, so
//     the two never undo each other. The chart's checksum annotations roll
//     exactly the workloads whose rendered config changed; watch finds them
//     by comparing pod templates before and after the upgrade.
//
// # Source formats
//
// format: auto (default) picks, in order: dir for a directory; dotenv for
// names .env, .env.*, *.env; for *.yaml, *.yml, *.json a manifest when the
// document has apiVersion and kind, else a YAML map; otherwise by content (a
// first line KEY=... is dotenv). Explicit formats: dotenv, yaml, dir,
// manifest.
//
//   - dotenv: python-dotenv / Docker Compose syntax, no ${VAR} expansion
//     (see values.ParseDotenv); keys must be shell variable names.
//   - yaml: a flat map of scalars; values keep their text ("1.50").
//   - dir: one key per regular file, like `kubectl create configmap
//     --from-file=DIR`, except that dotfiles and editor temp files are
//     skipped; subdirectories are ignored.
//   - manifest: a v1 ConfigMap or Secret whose kind and name match the
//     declared source (and namespace, if set); data (base64 for Secrets),
//     stringData and type are used, labels and annotations are not.
//
// Every source must be UTF-8 text (no NUL bytes), at most 1 MiB per file
// and per object, with keys valid for a ConfigMap.
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
// files (IsEditorTemp) are ignored. Events are debounced: a batch is synced
// after watch.debounce (200 ms) without events, or 10 debounce periods after
// its first event during a continuous stream. Batches that arrive while a
// sync runs are merged, so a burst of writes is applied once with the final
// content.
//
// # One watch per environment
//
// Run takes the coordination.k8s.io Lease LeaseName in the namespace,
// renews it every 5 s, and deletes it on exit; a second watch is refused
// with ErrAlreadyWatching naming the holder. A killed watch's lease expires
// after 15 s. Sync (--once) and ApplySources take no lease: they are short
// and idempotent (they converge to the files, whoever runs them).
//
// # Failure handling
//
// While the API server is unreachable (connection refused, timeouts, 5xx,
// 429) a sync is retried with backoff from 0.5 s to 15 s, re-reading the
// files each time, and each retry is reported. Cancelling the context
// (Ctrl-C) stops everything and returns nil.
package watch
