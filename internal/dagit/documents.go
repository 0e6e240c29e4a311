package dagit

// The GraphQL documents the client sends. They were written against Dagster
// 1.13.27's schema and documents_test.go validates every one of them against
// that schema (testdata/dagster-schema.graphql), so a typo or a field Dagster
// removed fails `go test`, not a user's `dagster-dev` command.
//
// Every operation is named DagsterDev* (Dagit's logs and the tests' fake
// server tell them apart by name); fragments follow the operation.

// fragmentPythonError is a load or reload error with its chain of causes:
// the user's own exception (and its file:line) is usually a cause of the
// Dagster error that wraps it.
const fragmentPythonError = `
fragment DagsterDevPythonError on PythonError {
  message
  className
  stack
  errorChain { isExplicitLink error { message className stack } }
}`

// fragmentLocationEntry is a workspace location entry with its load state
// and, once loaded, the summary of its definitions.
const fragmentLocationEntry = `
fragment DagsterDevLocationEntry on WorkspaceLocationEntry {
  name
  loadStatus
  updatedTimestamp
  versionKey
  locationOrLoadError {
    __typename
    ... on RepositoryLocation {
      name
      repositories {
        name
        jobs { name }
        schedules { name }
        sensors { name }
        assetNodes { assetKey { path } }
      }
    }
    ... on PythonError { ...DagsterDevPythonError }
  }
}`

const (
	queryLocationEntry = `query DagsterDevLocation($name: String!) {
  workspaceLocationEntryOrError(name: $name) {
    __typename
    ... on WorkspaceLocationEntry {
      name
      loadStatus
      locationOrLoadError {
        __typename
        ... on RepositoryLocation { name repositories { name jobs { name } } }
        ... on PythonError { message className stack }
      }
    }
    ... on PythonError { message stack }
  }
}`

	queryWorkspaceLocations = `query DagsterDevWorkspace {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name loadStatus } }
    ... on PythonError { message stack }
  }
}`

	queryLocations = `query DagsterDevLocations {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { ...DagsterDevLocationEntry } }
    ... on PythonError { message stack }
  }
}` + fragmentLocationEntry + fragmentPythonError

	mutationReloadLocation = `mutation DagsterDevReloadLocation($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on WorkspaceLocationEntry { ...DagsterDevLocationEntry }
    ... on PythonError { ...DagsterDevPythonError }
    ... on Error { message }
  }
}` + fragmentLocationEntry + fragmentPythonError

	mutationLaunchRun = `mutation DagsterDevLaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { pipelineName errors { message path reason } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}`

	queryRun = `query DagsterDevRun($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { runId status jobName tags { key value } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}`

	queryRuns = `query DagsterDevRuns($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { runId status jobName creationTime startTime endTime tags { key value } } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}`

	queryLogs = `query DagsterDevLogs($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message level stepKey eventType timestamp }
        ... on ErrorEvent { error { message className stack cause { message stack } } }
      }
    }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}`

	queryInstance = `query DagsterDevInstance {
  instance { info runLauncher { name } }
}`
)
