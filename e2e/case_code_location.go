package e2e

import (
	"context"
	"slices"
	"strings"
)

// locationName is the chart's code location name for this config.
func (s *suite) locationName() string {
	base, err := s.baseValues()
	if err != nil {
		return defaultLocation
	}
	return valueOr(base, defaultLocation, "userCode", "locationName")
}

func (s *suite) caseCodeLocation(ctx context.Context, t *T) error {
	name := s.locationName()
	st, err := s.gql.WaitLocation(ctx, name, Poll{Interval: s.poll, Timeout: s.timeout()})
	if err != nil {
		return err
	}
	var jobs []string
	for repo, js := range st.Jobs {
		for _, j := range js {
			jobs = append(jobs, repo+"/"+j)
		}
	}
	slices.Sort(jobs)
	t.Logf("location %s loaded: %s", name, strings.Join(jobs, ", "))
	return nil
}
