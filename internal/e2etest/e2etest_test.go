package e2etest

import "testing"

func TestRequire(t *testing.T) {
	for _, c := range []struct {
		value string
		run   bool
	}{{"", false}, {"0", false}, {"true", false}, {"1", true}} {
		t.Run("DAGSTER_DEV_E2E="+c.value, func(t *testing.T) {
			t.Setenv(Env, c.value)
			ran := false
			t.Run("gated", func(t *testing.T) {
				Require(t)
				ran = true
			})
			if ran != c.run || Enabled() != c.run {
				t.Errorf("ran %v, Enabled %v; want %v", ran, Enabled(), c.run)
			}
		})
	}
}
