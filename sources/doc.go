// Package sources is the ConfigMap/Secret side of dagster-dev: it turns
// the sources declared under watch.sources in dagster-dev.yaml into
// objects (LoadSource), applies them to the environment's namespace, finds
// the workloads that read them and restarts exactly those (Syncer). `up`
// applies them once before installing the chart (ApplySources); `watch`
// (package watch) drives a Syncer from file events.
//
// # Apply and restart
//
// Each source becomes one ConfigMap or Secret, applied with server-side
// apply (field manager FieldManager, "dagster-dev", conflicts forced: the
// file is the source of truth), labelled as dagster-dev's own
// (kube.ManagedByLabels) and annotated with its file (SourceAnnotation).
// Keys another field manager set are removed, so the object holds exactly
// the file. Content equal to the cluster's is not applied again.
//
// Then every Deployment and StatefulSet of the namespace whose live pod
// template references a changed object (envFrom, env valueFrom, volumes
// including projected ones: TemplateRefs) gets HashAnnotation on its pod
// template: a sha256 over the content of the sources it reads (ConfigHash).
// Equal content means an equal hash, so a save without changes, or
// restarting watch, restarts nothing (PlanRestarts). Job pods are not
// restarted: each Dagster run starts a new pod that reads the current
// values.
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
//     --from-file=DIR`, except that dotfiles and editor temp files
//     (IsEditorTemp) are skipped; subdirectories are ignored.
//   - manifest: a v1 ConfigMap or Secret whose kind and name match the
//     declared source (and namespace, if set); data (base64 for Secrets),
//     stringData and type are used, labels and annotations are not.
//
// Every source must be UTF-8 text (no NUL bytes), at most 1 MiB
// (MaxSourceBytes) per file and per object, with keys valid for a
// ConfigMap. Errors name the file (and line) and never include values of
// the files.
//
// # Errors
//
// kube.Transient tells an unreachable or overloaded API server (worth
// retrying) from a refusal. A Syncer returns the former and stops the pass; a
// refused apply or patch of one object goes to Syncer.Problem and the pass
// goes on.
package sources
