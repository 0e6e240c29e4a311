package chart

// Component names: the values of the app.kubernetes.io/component label
// (kube.LabelComponent) the chart puts on each workload and its pods
// (templates/_helpers.tpl, the subcharts' templates). Code outside the chart
// names components only through these.
const (
	ComponentDagit    = "dagit"
	ComponentDaemon   = "daemon"
	ComponentWorker   = "celery-worker"
	ComponentUserCode = "user-code"
	ComponentDatabase = "database" // the postgresql subchart
	ComponentBroker   = "broker"   // the rabbitmq subchart
)

// Components are the chart's workload components, in start order.
var Components = []string{ComponentDatabase, ComponentBroker, ComponentUserCode, ComponentDaemon, ComponentDagit, ComponentWorker}
