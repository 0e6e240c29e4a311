// Package values computes the Helm chart values for a dagster-dev config.
// `dagster-dev up` installs the chart with them and `dagster-dev watch`
// upgrades it with them, so both always agree on what the release should
// look like and never undo each other's work.
package values

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/userfile"
	"github.com/dagster-dev/dagster-dev/internal/yamlpos"
)

// Chart value keys this package writes. They are the Dagster chart's
// (see the chart README): env maps and envFrom lists per component.
const (
	KeyEnv           = "env"
	KeyEnvConfigMaps = "env_config_maps"
	KeyEnvSecrets    = "env_secrets"
)

// Components maps a watch attach target to its top-level chart key. The
// attach targets are named after the chart keys, so this is the identity,
// but callers iterate it to stay in the chart's order.
var Components = []string{config.TargetDagit, config.TargetJobRunner}

// For returns the chart values for cfg, a deep merge in this order (later
// wins):
//
//  1. each valuesFiles entry, in order;
//  2. the inline values;
//  3. what the watch config implies:
//     - dagit.env / job_runner.env: the entries of the watch.env dotenv
//     files are merged on top of the env maps from 1 and 2. The dotenv file
//     wins because it is the file `watch` tells the user to edit: if a
//     values file could shadow it, an edit would silently do nothing;
//     - <component>.env_config_maps / env_secrets: the lists from 1 and 2,
//     then the names of the watch sources attached to the component, in
//     declared order (the chart loads them in list order, so later sources
//     win), without duplicates (the first occurrence keeps its place);
//  4. codeLocations become the chart's userDeployments (see userDeployments);
//  5. in kind mode (no cluster.context): dagit.service.type=NodePort and
//     dagit.service.nodePort=dagit.nodePort, because the kind port mapping
//     made at cluster creation targets exactly that NodePort.
//
// The result is a fresh map each call and depends only on cfg and the files.
func For(cfg *config.Config) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range cfg.ValuesFiles {
		path := cfg.Resolve(f)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("values file %s: %w", userfile.DisplayPath(path), unwrapPathError(err))
		}
		v, err := Parse(userfile.DisplayPath(path), data)
		if err != nil {
			return nil, err
		}
		out = Merge(out, v)
	}
	if len(cfg.Values) > 0 {
		inline, err := normalize(cfg.Values, "values")
		if err != nil {
			return nil, err
		}
		out = Merge(out, inline.(map[string]any))
	}

	envFiles := map[string]string{config.TargetDagit: cfg.Watch.Env.Dagit, config.TargetJobRunner: cfg.Watch.Env.JobRunner}
	for _, comp := range Components {
		file := envFiles[comp]
		if file == "" {
			continue
		}
		path := cfg.Resolve(file)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("watch.env.%s: %s: %w", comp, userfile.DisplayPath(path), unwrapPathError(err))
		}
		entries, err := ParseDotenv(userfile.DisplayPath(path), data)
		if err != nil {
			return nil, err
		}
		env, err := mapAt(out, comp, KeyEnv)
		if err != nil {
			return nil, err
		}
		for k, v := range entries {
			env[k] = v
		}
	}

	for _, comp := range Components {
		for _, kind := range []string{config.KindConfigMap, config.KindSecret} {
			var names []string
			for _, s := range cfg.Watch.Sources {
				if s.Kind == kind && slices.Contains(s.Attach, comp) {
					names = append(names, s.Name)
				}
			}
			if len(names) == 0 {
				continue
			}
			key := KeyEnvConfigMaps
			if kind == config.KindSecret {
				key = KeyEnvSecrets
			}
			compMap, err := mapAt(out, comp)
			if err != nil {
				return nil, err
			}
			existing, err := stringList(compMap[key], comp+"."+key)
			if err != nil {
				return nil, err
			}
			compMap[key] = dedupe(append(existing, names...))
		}
	}

	// The chart's example location is off unless asked; dagster-dev asks, unless the values say
	// otherwise: its job dagster_dev_probe is what `dagster-dev test` runs.
	// (Not with the chart's single-location API, userCode.pythonFile / moduleName, which replaces it.)
	userCode, err := mapAt(out, "userCode")
	if err != nil {
		return nil, err
	}
	if userCode["pythonFile"] == nil && userCode["moduleName"] == nil {
		example, err := mapAt(userCode, "example")
		if err != nil {
			return nil, err
		}
		if _, set := example["enabled"]; !set {
			example["enabled"] = true
		}
	}

	if cfg.RunLauncher != "" {
		launcher, err := mapAt(out, "runLauncher")
		if err != nil {
			return nil, err
		}
		launcher["type"] = cfg.RunLauncher
		if cfg.RunLauncher == config.RunLauncherK8s {
			// No Celery, so no broker; a rabbitmq.enabled the user set is left for the chart to
			// reject with its own message.
			rabbit, err := mapAt(out, "rabbitmq")
			if err != nil {
				return nil, err
			}
			if _, set := rabbit["enabled"]; !set {
				rabbit["enabled"] = false
			}
		}
	}

	if len(cfg.CodeLocations) > 0 {
		deployments, err := userDeployments(cfg, out[KeyUserDeployments])
		if err != nil {
			return nil, err
		}
		out[KeyUserDeployments] = deployments
	}

	if !cfg.ExistingCluster() {
		svc, err := mapAt(out, config.TargetDagit, "service")
		if err != nil {
			return nil, err
		}
		svc["type"] = "NodePort"
		svc["nodePort"] = cfg.Dagit.NodePort
	}
	return out, nil
}

// Parse decodes one values file. Errors name the file and line.
func Parse(file string, data []byte) (map[string]any, error) {
	root, err := yamlpos.Document(data)
	if errors.Is(err, yamlpos.ErrSecondDocument) {
		return nil, &userfile.Error{File: file, Line: yamlpos.Problems(err)[0].Line, Msg: "a values file holds one YAML document; this is a second one"}
	}
	if err != nil {
		return nil, YAMLError(file, err)
	}
	if root == nil {
		return map[string]any{}, nil // empty, or only comments: sets nothing
	}
	if root.Kind != yaml.MappingNode {
		return nil, &userfile.Error{File: file, Line: root.Line, Msg: "chart values must be a YAML mapping"}
	}
	var v any
	if err := root.Decode(&v); err != nil {
		return nil, YAMLError(file, err)
	}
	n, err := normalize(v, file)
	if err != nil {
		return nil, err
	}
	return n.(map[string]any), nil
}

// Merge deep-merges src into dst and returns dst: nested maps merge, any
// other value (lists included) replaces, like `helm -f a.yaml -f b.yaml`.
// src is copied, never aliased, so later edits to the result cannot leak
// back into a caller's map.
func Merge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = Merge(dm, sm)
				continue
			}
			dst[k] = Merge(map[string]any{}, sm)
			continue
		}
		dst[k] = copyValue(sv)
	}
	return dst
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return Merge(map[string]any{}, t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyValue(e)
		}
		return out
	default:
		return v
	}
}

// mapAt returns the map at path in m, creating missing levels. A non-map in
// the way is a user error: silently replacing it would lose their setting.
func mapAt(m map[string]any, path ...string) (map[string]any, error) {
	cur := m
	for i, p := range path {
		switch next := cur[p].(type) {
		case map[string]any:
			cur = next
		case nil:
			nm := map[string]any{}
			cur[p] = nm
			cur = nm
		default:
			return nil, fmt.Errorf("chart value %s must be a mapping, not %T", strings.Join(path[:i+1], "."), next)
		}
	}
	return cur, nil
}

func stringList(v any, key string) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]string, 0, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("chart value %s[%d] must be an object name (a string), not %T", key, i, e)
			}
			out = append(out, s)
		}
		return out, nil
	case []string:
		return slices.Clone(t), nil
	default:
		return nil, fmt.Errorf("chart value %s must be a list of object names, not %T", key, v)
	}
}

func dedupe(names []string) []any {
	seen := map[string]bool{}
	out := make([]any, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// normalize turns YAML's map[any]any (non-string keys) into the
// map[string]any Helm works with, and typed slices into []any.
func normalize(v any, where string) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			n, err := normalize(e, where)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			n, err := normalize(e, where)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalize(e, where)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = e
		}
		return out, nil
	default:
		return v, nil
	}
}

// YAMLError turns a YAML error into file:line form: the first problem
// yamlpos.Problems finds in it (go.yaml.in/yaml/v4 errors carry positions).
func YAMLError(file string, err error) error {
	p := yamlpos.Problems(err)[0]
	return &userfile.Error{File: file, Line: p.Line, Msg: "invalid YAML: " + p.Msg}
}

// unwrapPathError drops the path from an *os.PathError, which the caller
// already names in a shorter form.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
