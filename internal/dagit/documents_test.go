package dagit

import (
	"os"
	"regexp"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/dagster-dev/dagster-dev/chart"
)

// --- the documents against Dagster's real schema

const schemaFile = "testdata/dagster-schema.graphql"

func loadSchema(t *testing.T) *ast.Schema {
	t.Helper()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: schemaFile, Input: string(data)})
	if gerr != nil {
		t.Fatalf("loading %s: %v", schemaFile, gerr)
	}
	return schema
}

func TestDocumentsValidateAgainstDagsterSchema(t *testing.T) {
	schema := loadSchema(t)
	docs := map[string]string{
		"location": queryLocationEntry, "workspace": queryWorkspaceLocations, "launch": mutationLaunchRun,
		"run": queryRun, "runs": queryRuns, "logs": queryLogs, "instance": queryInstance,
		"locations": queryLocations, "reload": mutationReloadLocation,
	}
	for name, doc := range docs {
		if _, errs := gqlparser.LoadQueryWithRules(schema, doc, nil); len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
	// The validator must be able to fail, or the test above proves nothing.
	if _, errs := gqlparser.LoadQueryWithRules(schema, `query { runOrError(runId: "x") { ... on Run { noSuchField } } }`, nil); len(errs) == 0 {
		t.Fatal("a query with an unknown field validated")
	}
}

// The schema file must be the one of the Dagster the chart installs.
func TestSchemaMatchesChartDagsterVersion(t *testing.T) {
	ch, err := chart.Load()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Dagster (\d+\.\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s does not say which Dagster version it is from", schemaFile)
	}
	if got, want := string(m[1]), ch.Metadata.AppVersion; got != want {
		t.Errorf("%s is Dagster %s's schema but the chart installs Dagster %s: regenerate it", schemaFile, got, want)
	}
}
