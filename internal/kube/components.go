package kube

// Component names: the values of the app.kubernetes.io/component label
// (LabelComponent) the chart puts on each workload and its pods
// (chart/dagster/templates/_helpers.tpl, the subcharts' templates). Code outside the chart
// names components only through these.
const (
	ComponentDagit    = "dagit"
	ComponentDaemon   = "daemon"
	ComponentWorker   = "celery-worker"
	ComponentUserCode = "user-code"
	ComponentDatabase = "database" // the postgresql subchart
	ComponentBroker   = "broker"   // the rabbitmq subchart
)

// LabelCodeLocation carries the code location's name on every code-server
// pod, Deployment and Service (the bundled example's and each
// userDeployments entry's), so one location's pods can be selected:
// app.kubernetes.io/component=user-code plus this label.
const LabelCodeLocation = "dagster-dev.io/code-location"

// Components are the chart's workload components, in start order.
var Components = []string{ComponentDatabase, ComponentBroker, ComponentUserCode, ComponentDaemon, ComponentDagit, ComponentWorker}

// LabelRunRelease carries the release's name on the run and step pods its
// run launcher creates (templates/_helpers.tpl, dagster.runPodLabel).
// Dagster itself labels every job pod app.kubernetes.io/instance=dagster,
// whatever the release, so this label is what ties a job pod to its release.
const LabelRunRelease = "dagster-dev.io/release"

// The app.kubernetes.io/component values Dagster (dagster-k8s,
// dagster-celery-k8s) sets on the job pods it launches.
const (
	ComponentRunWorker  = "run_worker"
	ComponentStepWorker = "step_worker"
)

// LabelOp is set by Dagster on a step pod: the step it runs.
const LabelOp = "dagster/op"
