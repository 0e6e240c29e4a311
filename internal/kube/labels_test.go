package kube

import "testing"

func TestSelectors(t *testing.T) {
	for got, want := range map[string]string{
		ReleaseSelector("dagster"):            "app.kubernetes.io/instance=dagster",
		ComponentSelector("dagster", "dagit"): "app.kubernetes.io/component=dagit,app.kubernetes.io/instance=dagster",
		ManagedBySelector():                   "app.kubernetes.io/managed-by=dagster-dev",
		RunSelector("8c1f"):                   "dagster/run-id=8c1f",
	} {
		if got != want {
			t.Errorf("selector %q, want %q", got, want)
		}
	}
}
