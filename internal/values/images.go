package values

import (
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/distribution/reference"
)

// ImageIDAnnotation is the pod-template annotation that holds the Docker
// image ID of the side-loaded image a workload runs. Kubernetes rolls a
// Deployment only when its pod template changes, so an image rebuilt under
// the same tag would otherwise never reach running pods (the trap users of
// Dagster's own chart report). The ID changes exactly when the image does.
const ImageIDAnnotation = "dagster-dev.io/image-id"

// notSideLoaded is the annotation value of a code location whose own image
// is not side-loaded: it pins the location's annotation so a rebuilt shared
// Dagster image (the global annotation) does not roll a location that does
// not run it.
const notSideLoaded = "not-side-loaded"

// ImageEnvAnnotation lists, comma-separated, the env keys of a code location
// that `up` took from the location's image rather than from the user's
// config (SetImageEnvDefault).
const ImageEnvAnnotation = "dagster-dev.io/image-env"

// SetImageIDs writes ImageIDAnnotation into vals for the workloads whose
// image is side-loaded: the global podAnnotations (Dagit, daemon, workers,
// the bundled location and locations without an image of their own) get
// the shared Dagster image's ID, each userDeployments entry with its own
// image gets that image's ID. ids maps image references to Docker image
// IDs; defaultTag is the tag the chart uses when image.tag is empty (its
// appVersion). Images not in ids set nothing, so values are unchanged for
// a user who side-loads nothing.
func SetImageIDs(vals map[string]any, ids map[string]string, defaultTag string) {
	byRef := map[string]string{}
	for ref, id := range ids {
		byRef[canonicalRef(ref)] = id
	}
	shared, _ := vals["image"].(map[string]any)
	repo, _ := shared["repository"].(string)
	tag, _ := shared["tag"].(string)
	if tag == "" {
		tag = defaultTag
	}
	if id := byRef[canonicalRef(repo+":"+tag)]; id != "" && repo != "" {
		setAnnotation(vals, ImageIDAnnotation, id)
	}
	for _, entry := range deploymentEntries(vals) {
		img, _ := entry["image"].(map[string]any)
		r, _ := img["repository"].(string)
		t, _ := img["tag"].(string)
		if r == "" {
			continue // the shared image: the global annotation applies
		}
		if t == "" {
			t = tag
		}
		id := byRef[canonicalRef(r+":"+t)]
		if id == "" {
			id = notSideLoaded
		}
		setAnnotation(entry, ImageIDAnnotation, id)
	}
}

// CarrySideLoaded copies what `up` learnt from the side-loaded images from
// live (the release's current values) into vals: the image-ID annotations
// and the env defaults a location's image supplied (ImageEnvAnnotation).
// `watch` upgrades the chart with values it computes from the files alone;
// without this it would drop them, rolling every workload although no image
// changed, and leave an image location without its image's PYTHONPATH.
func CarrySideLoaded(vals, live map[string]any) {
	if id, ok := annotation(live, ImageIDAnnotation); ok {
		setAnnotation(vals, ImageIDAnnotation, id)
	}
	liveEntries := map[string]map[string]any{}
	for _, entry := range deploymentEntries(live) {
		if name, _ := entry["name"].(string); name != "" {
			liveEntries[name] = entry
		}
	}
	for _, entry := range deploymentEntries(vals) {
		name, _ := entry["name"].(string)
		old, ok := liveEntries[name]
		if !ok {
			continue
		}
		if id, ok := annotation(old, ImageIDAnnotation); ok {
			setAnnotation(entry, ImageIDAnnotation, id)
		}
		// The image's env only while the location runs the same image.
		if !reflect.DeepEqual(entry["image"], old["image"]) {
			continue
		}
		keys, _ := annotation(old, ImageEnvAnnotation)
		oldEnv, _ := old[KeyEnv].(map[string]any)
		for _, key := range splitKeys(keys) {
			if v, ok := oldEnv[key].(string); ok {
				setImageEnvDefault(entry, key, v)
			}
		}
	}
}

// annotation is m's podAnnotations[key], when it is a string.
func annotation(m map[string]any, key string) (string, bool) {
	ann, _ := m["podAnnotations"].(map[string]any)
	v, ok := ann[key].(string)
	return v, ok
}

// setAnnotation sets m's podAnnotations[key]; a podAnnotations that is not
// a mapping is left alone (the chart's schema reports it).
func setAnnotation(m map[string]any, key, value string) {
	if ann, err := mapAt(m, "podAnnotations"); err == nil {
		ann[key] = value
	}
}

// addKey adds key to a comma-separated, sorted list of keys.
func addKey(list, key string) string {
	keys := splitKeys(list)
	if !slices.Contains(keys, key) {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// splitKeys is the keys of a comma-separated list.
func splitKeys(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// canonicalRef lets "python:3.11" and "docker.io/library/python:3.11" match.
func canonicalRef(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.TagNameOnly(named).String()
}

// SetLocationImageID sets the image-ID annotation of one code location's
// entry: watch uses it for an image it built and side-loaded, leaving the
// other entries' annotations as CarrySideLoaded set them.
func SetLocationImageID(vals map[string]any, location, id string) {
	for _, entry := range deploymentEntries(vals) {
		if name, _ := entry["name"].(string); name == location {
			setAnnotation(entry, ImageIDAnnotation, id)
		}
	}
}
