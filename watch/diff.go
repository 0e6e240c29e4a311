package watch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
)

// KeyDiff compares two key/value maps by key; values are compared but never
// returned.
func KeyDiff(old, cur map[string]string) (added, removed, changed []string) {
	for k, v := range cur {
		ov, ok := old[k]
		switch {
		case !ok:
			added = append(added, k)
		case ov != v:
			changed = append(changed, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			removed = append(removed, k)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed
}

// canonical is the JSON form of values: what Helm stores and gives back,
// so int 8080 from a YAML file and float64 8080 from a release compare equal.
func canonical(v map[string]any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("values are not serialisable: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// valuesDiff describes a values change without showing values: env keys of
// dagit.env and job_runner.env as "dagit.env.KEY", any other changed leaf
// as its dotted path.
func valuesDiff(old, cur map[string]any) (added, removed, changed []string) {
	var walk func(prefix string, a, b any)
	walk = func(prefix string, a, b any) {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		if aok && bok {
			for k, bv := range bm {
				p := join(prefix, k)
				av, ok := am[k]
				if !ok {
					added = append(added, p)
					continue
				}
				walk(p, av, bv)
			}
			for k := range am {
				if _, ok := bm[k]; !ok {
					removed = append(removed, join(prefix, k))
				}
			}
			return
		}
		if !reflect.DeepEqual(a, b) {
			changed = append(changed, prefix)
		}
	}
	walk("", old, cur)
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}
