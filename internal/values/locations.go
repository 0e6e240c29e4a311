package values

import (
	"fmt"
	"path"
	"strings"

	"github.com/distribution/reference"

	"github.com/dagster-dev/dagster-dev/config"
	"github.com/dagster-dev/dagster-dev/internal/kube"
)

// KeyUserDeployments is the chart's list of code locations.
const KeyUserDeployments = "userDeployments"

// codeVolume is the name of the volume a path location's directory is
// mounted from in its code server and in its run and step pods.
const codeVolume = "code"

// userDeployments turns cfg.CodeLocations into the chart's userDeployments
// list. An entry the values already hold under the same name is the base
// (resources, extra volumes, ...) and the location's settings win;
// volumes and volumeMounts are appended to the values' own. Entries only
// the values hold keep their place after the locations.
func userDeployments(cfg *config.Config, existing any) ([]any, error) {
	var fromValues []any
	if existing != nil {
		list, ok := existing.([]any)
		if !ok {
			return nil, fmt.Errorf("values: %s must be a list", KeyUserDeployments)
		}
		fromValues = list
	}
	byName := map[string]map[string]any{}
	for i, e := range fromValues {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("values: %s[%d] must be a mapping", KeyUserDeployments, i)
		}
		if name, _ := m["name"].(string); name != "" {
			byName[name] = m
		}
	}
	var out []any
	used := map[string]bool{}
	for _, l := range cfg.CodeLocations {
		entry, err := locationValues(cfg, l)
		if err != nil {
			return nil, fmt.Errorf("codeLocations %s: %w", l.Name, err)
		}
		if base, ok := byName[l.Name]; ok {
			used[l.Name] = true
			for _, key := range []string{"volumes", "volumeMounts"} {
				if own, ok := base[key].([]any); ok {
					gen, _ := entry[key].([]any)
					entry[key] = append(append([]any{}, own...), gen...)
				}
			}
			entry = Merge(Merge(map[string]any{}, base), entry)
		}
		out = append(out, entry)
	}
	for _, e := range fromValues {
		if name, _ := e.(map[string]any)["name"].(string); !used[name] {
			out = append(out, copyValue(e))
		}
	}
	return out, nil
}

// locationValues is one userDeployments entry.
func locationValues(cfg *config.Config, l config.CodeLocation) (map[string]any, error) {
	entry := map[string]any{"name": l.Name}
	img, err := cfg.LocationImage(l)
	if err != nil {
		return nil, err
	}
	if img != "" {
		repo, tag, err := splitImage(img)
		if err != nil {
			return nil, err
		}
		// IfNotPresent: the image may exist only in the nodes (side-loaded).
		entry["image"] = map[string]any{"repository": repo, "tag": tag, "pullPolicy": "IfNotPresent"}
	}
	if l.Attribute != "" {
		entry["attribute"] = l.Attribute
	}
	env := map[string]any{}
	for k, v := range l.Env {
		env[k] = v
	}
	if l.Path != "" {
		nodePath, err := cfg.LocationNodePath(l)
		if err != nil {
			return nil, err
		}
		workdir := path.Join(config.CodePodRoot, l.Name)
		entry["workingDirectory"] = workdir
		// The code mount through the release's claim (kube.EnsureCodeVolume), not a hostPath
		// volume, which the `restricted` Pod Security Standard forbids; the location's directory
		// of it through subPath.
		entry["volumes"] = []any{map[string]any{
			"name":                  codeVolume,
			"persistentVolumeClaim": map[string]any{"claimName": kube.CodeClaimName(cfg.Release), "readOnly": true},
		}}
		mount := map[string]any{"name": codeVolume, "mountPath": workdir, "readOnly": true}
		if rel := strings.TrimPrefix(strings.TrimPrefix(nodePath, config.CodeNodePath), "/"); rel != "" {
			mount["subPath"] = rel
		}
		entry["volumeMounts"] = []any{mount}
		// The mount is read-only: Python must not try to write bytecode
		// next to the user's files (it would only fail quietly each time).
		if _, set := env["PYTHONDONTWRITEBYTECODE"]; !set {
			env["PYTHONDONTWRITEBYTECODE"] = "1"
		}
		if l.File != "" {
			entry["file"] = path.Join(workdir, l.File)
		}
	} else if l.File != "" {
		entry["file"] = l.File
	}
	if l.Module != "" {
		entry["module"] = l.Module
	}
	if len(env) > 0 {
		entry["env"] = env
	}
	return entry, nil
}

// splitImage splits a reference into the chart's repository and tag.
func splitImage(img string) (repo, tag string, err error) {
	named, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return "", "", fmt.Errorf("image %q: %w", img, err)
	}
	tagged, ok := named.(reference.Tagged)
	if !ok {
		return "", "", fmt.Errorf("image %q needs a tag (the chart pins images by repository and tag)", img)
	}
	repo = reference.FamiliarName(named)
	tag = tagged.Tag()
	if d, ok := named.(reference.Digested); ok {
		tag += "@" + d.Digest().String()
	}
	return repo, tag, nil
}

// SetImageEnvDefault sets key in the env of the userDeployments entry named
// location to a value taken from the location's image (its PYTHONPATH, for
// one), unless the entry's env sets it already. The key is recorded in the
// entry's ImageEnvAnnotation, so CarrySideLoaded can tell it from the
// user's own env when `watch` recomputes the values without the image at hand.
func SetImageEnvDefault(vals map[string]any, location, key, value string) {
	for _, entry := range deploymentEntries(vals) {
		if entry["name"] == location {
			setImageEnvDefault(entry, key, value)
		}
	}
}

// setImageEnvDefault is SetImageEnvDefault for one userDeployments entry.
func setImageEnvDefault(entry map[string]any, key, value string) {
	env, err := mapAt(entry, KeyEnv)
	if err != nil {
		return
	}
	if _, set := env[key]; set {
		return
	}
	env[key] = value
	keys, _ := annotation(entry, ImageEnvAnnotation)
	setAnnotation(entry, ImageEnvAnnotation, addKey(keys, key))
}

// deploymentEntries are the entries of vals' userDeployments list.
func deploymentEntries(vals map[string]any) []map[string]any {
	list, _ := vals[KeyUserDeployments].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if entry, ok := e.(map[string]any); ok {
			out = append(out, entry)
		}
	}
	return out
}
