package values

import (
	"reflect"
	"testing"
)

func TestSetAndCarrySideLoaded(t *testing.T) {
	fresh := func() map[string]any {
		return map[string]any{
			"image": map[string]any{"repository": "dagster-dev.local/dagster", "tag": ""},
			KeyUserDeployments: []any{
				map[string]any{"name": "shared"},
				map[string]any{"name": "ml", "image": map[string]any{"repository": "my-team/ml", "tag": "1.4"}},
				map[string]any{"name": "pulled", "image": map[string]any{"repository": "registry.example/x", "tag": "2"}},
			},
		}
	}
	vals := fresh()
	SetImageIDs(vals, map[string]string{
		"dagster-dev.local/dagster:1.13.27": "sha256:aaa",
		"docker.io/my-team/ml:1.4":          "sha256:bbb",
	}, "1.13.27")
	if got := vals["podAnnotations"]; !reflect.DeepEqual(got, map[string]any{ImageIDAnnotation: "sha256:aaa"}) {
		t.Errorf("global podAnnotations = %v", got)
	}
	list := vals[KeyUserDeployments].([]any)
	if _, set := list[0].(map[string]any)["podAnnotations"]; set {
		t.Error("a location on the shared image got its own annotation (the global one applies)")
	}
	for i, want := range map[int]string{1: "sha256:bbb", 2: notSideLoaded} {
		got := list[i].(map[string]any)["podAnnotations"].(map[string]any)[ImageIDAnnotation]
		if got != want {
			t.Errorf("location %d annotation = %v, want %s", i, got, want)
		}
	}

	// watch's values (no IDs) carry the live ones over: nothing rolls.
	next := fresh()
	CarrySideLoaded(next, vals)
	if !reflect.DeepEqual(next, vals) {
		t.Errorf("carried values differ:\n%s\nwant\n%s", yamlOf(t, next), yamlOf(t, vals))
	}

	// Nothing side-loaded: values unchanged.
	plain := fresh()
	SetImageIDs(plain, nil, "1.13.27")
	plain[KeyUserDeployments].([]any)[2].(map[string]any)["podAnnotations"] = nil
	delete(plain[KeyUserDeployments].([]any)[2].(map[string]any), "podAnnotations")
	delete(plain[KeyUserDeployments].([]any)[1].(map[string]any), "podAnnotations")
	if !reflect.DeepEqual(plain, fresh()) {
		t.Errorf("no IDs changed values beyond the location pins: %s", yamlOf(t, plain))
	}
}

func TestCarryImageEnv(t *testing.T) {
	fresh := func(userEnv map[string]any, tag string) map[string]any {
		entry := map[string]any{"name": "ml", "image": map[string]any{"repository": "my-team/ml", "tag": tag}}
		if userEnv != nil {
			entry["env"] = userEnv
		}
		return map[string]any{KeyUserDeployments: []any{entry}}
	}
	envOf := func(vals map[string]any) any {
		return vals[KeyUserDeployments].([]any)[0].(map[string]any)["env"]
	}
	live := fresh(map[string]any{"MODEL": "forest"}, "1.4")
	SetImageEnvDefault(live, "ml", "PYTHONPATH", "/app/src")
	SetImageEnvDefault(live, "ml", "MODEL", "from-image") // the user's value wins
	if got := envOf(live); !reflect.DeepEqual(got, map[string]any{"MODEL": "forest", "PYTHONPATH": "/app/src"}) {
		t.Fatalf("env after defaults = %v", got)
	}

	// watch recomputes the values from the files: the image's PYTHONPATH is carried.
	next := fresh(map[string]any{"MODEL": "forest"}, "1.4")
	CarrySideLoaded(next, live)
	if !reflect.DeepEqual(next, live) {
		t.Errorf("carried values differ:\n%s\nwant\n%s", yamlOf(t, next), yamlOf(t, live))
	}

	// The user now sets PYTHONPATH: theirs stays.
	own := fresh(map[string]any{"PYTHONPATH": "/mine"}, "1.4")
	CarrySideLoaded(own, live)
	if got := envOf(own); !reflect.DeepEqual(got, map[string]any{"PYTHONPATH": "/mine"}) {
		t.Errorf("env = %v, want the user's PYTHONPATH", got)
	}

	// Another image: its env is not the old image's, so nothing is carried.
	other := fresh(nil, "1.5")
	CarrySideLoaded(other, live)
	if got := envOf(other); got != nil {
		t.Errorf("env = %v carried to another image", got)
	}

	// A PYTHONPATH the user had set and then removed is not carried either.
	userSet := fresh(map[string]any{"PYTHONPATH": "/mine"}, "1.4")
	dropped := fresh(nil, "1.4")
	CarrySideLoaded(dropped, userSet)
	if got := envOf(dropped); got != nil {
		t.Errorf("env = %v: the user's removed value came back", got)
	}
}
