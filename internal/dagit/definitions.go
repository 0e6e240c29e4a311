package dagit

import (
	"fmt"
	"slices"
	"strings"
)

// Definitions summarises what a loaded code location defines, for showing
// what a reload changed.
type Definitions struct {
	// Repositories in name order; a Definitions location has one, named
	// __repository__.
	Repositories []Repository
}

// Repository is one repository's definitions, each list in name order.
type Repository struct {
	Name      string
	Jobs      []string
	Assets    []string // asset keys, path components joined with "/"
	Schedules []string
	Sensors   []string
}

// Kinds of definitions.
const (
	KindJob      = "job"
	KindAsset    = "asset"
	KindSchedule = "schedule"
	KindSensor   = "sensor"
)

// Definition is one named definition of a repository.
type Definition struct {
	Repository string
	Kind       string
	Name       string
}

func (d Definition) String() string {
	if d.Repository == "" || d.Repository == "__repository__" {
		return d.Kind + " " + d.Name
	}
	return fmt.Sprintf("%s %s (repository %s)", d.Kind, d.Name, d.Repository)
}

// HiddenJob reports whether a job is one Dagster makes by itself for the
// assets (__ASSET_JOB, __ASSET_JOB_0, ...): it follows the assets and is not
// worth reporting on its own.
func HiddenJob(name string) bool { return strings.HasPrefix(name, "__ASSET_JOB") }

// All lists every definition, hidden jobs left out, in repository, kind
// and name order.
func (d Definitions) All() []Definition {
	var out []Definition
	for _, r := range d.Repositories {
		add := func(kind string, names []string) {
			for _, n := range names {
				if kind == KindJob && HiddenJob(n) {
					continue
				}
				out = append(out, Definition{Repository: r.Name, Kind: kind, Name: n})
			}
		}
		add(KindAsset, r.Assets)
		add(KindJob, r.Jobs)
		add(KindSchedule, r.Schedules)
		add(KindSensor, r.Sensors)
	}
	return out
}

// Diff lists what newer adds to and removes from d.
func (d Definitions) Diff(newer Definitions) (added, removed []Definition) {
	before, after := map[Definition]bool{}, map[Definition]bool{}
	for _, x := range d.All() {
		before[x] = true
	}
	for _, x := range newer.All() {
		after[x] = true
		if !before[x] {
			added = append(added, x)
		}
	}
	for _, x := range d.All() {
		if !after[x] {
			removed = append(removed, x)
		}
	}
	return added, removed
}

// repositoryJSON decodes a repository of fragmentLocationEntry.
type repositoryJSON struct {
	Name      string  `json:"name"`
	Jobs      []named `json:"jobs"`
	Schedules []named `json:"schedules"`
	Sensors   []named `json:"sensors"`
	Assets    []struct {
		Key struct {
			Path []string `json:"path"`
		} `json:"assetKey"`
	} `json:"assetNodes"`
}

type named struct {
	Name string `json:"name"`
}

func names(ns []named) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	slices.Sort(out)
	return out
}

func definitionsOf(repos []repositoryJSON) Definitions {
	var d Definitions
	for _, r := range repos {
		repo := Repository{Name: r.Name, Jobs: names(r.Jobs), Schedules: names(r.Schedules), Sensors: names(r.Sensors)}
		repo.Assets = make([]string, len(r.Assets))
		for i, a := range r.Assets {
			repo.Assets[i] = strings.Join(a.Key.Path, "/")
		}
		slices.Sort(repo.Assets)
		d.Repositories = append(d.Repositories, repo)
	}
	slices.SortFunc(d.Repositories, func(a, b Repository) int { return strings.Compare(a.Name, b.Name) })
	return d
}
