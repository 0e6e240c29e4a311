package values

import (
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
		ann, err := mapAt(vals, "podAnnotations")
		if err == nil {
			ann[ImageIDAnnotation] = id
		}
	}
	list, _ := vals[KeyUserDeployments].([]any)
	for _, e := range list {
		entry, ok := e.(map[string]any)
		if !ok {
			continue
		}
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
		ann, err := mapAt(entry, "podAnnotations")
		if err == nil {
			ann[ImageIDAnnotation] = id
		}
	}
}

// CarryImageIDs copies the image-ID annotations of live (the release's
// current values) into vals. `watch` upgrades the chart with values it
// computes from the files alone; without this it would drop the IDs `up`
// recorded and roll every workload, although no image changed.
func CarryImageIDs(vals, live map[string]any) {
	if liveAnn, ok := live["podAnnotations"].(map[string]any); ok {
		if id, ok := liveAnn[ImageIDAnnotation]; ok {
			if ann, err := mapAt(vals, "podAnnotations"); err == nil {
				ann[ImageIDAnnotation] = id
			}
		}
	}
	liveIDs := map[string]any{}
	liveList, _ := live[KeyUserDeployments].([]any)
	for _, e := range liveList {
		entry, _ := e.(map[string]any)
		name, _ := entry["name"].(string)
		ann, _ := entry["podAnnotations"].(map[string]any)
		if id, ok := ann[ImageIDAnnotation]; ok && name != "" {
			liveIDs[name] = id
		}
	}
	list, _ := vals[KeyUserDeployments].([]any)
	for _, e := range list {
		entry, ok := e.(map[string]any)
		if !ok {
			continue
		}
		name, _ := entry["name"].(string)
		if id, ok := liveIDs[name]; ok {
			if ann, err := mapAt(entry, "podAnnotations"); err == nil {
				ann[ImageIDAnnotation] = id
			}
		}
	}
}

// canonicalRef lets "python:3.11" and "docker.io/library/python:3.11" match.
func canonicalRef(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.TagNameOnly(named).String()
}
