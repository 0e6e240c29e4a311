// Package kube is dagster-dev's one place for Kubernetes knowledge that is
// not the chart's: how a kube context is found and connected to (client-go's
// loading rules), where kind writes its kubeconfig, the label names and
// selectors that identify a release's objects and what dagster-dev created,
// and reading a release's workloads, events and logs.
//
// It owns the label keys and the chart's component names
// (components.go), so the packages below the chart (readiness,
// dagitconn) name components without importing it.
package kube

import (
	"k8s.io/apimachinery/pkg/labels"
)

// Label and annotation keys. The app.kubernetes.io ones follow Kubernetes'
// recommended labels and are set by the chart (templates/_helpers.tpl) and
// by dagster-dev on the objects it creates itself.
const (
	// LabelInstance holds the Helm release name on every chart object.
	LabelInstance = "app.kubernetes.io/instance"
	// LabelName holds the chart name.
	LabelName = "app.kubernetes.io/name"
	// LabelComponent tells the release's workloads apart (chart.Component*).
	LabelComponent = "app.kubernetes.io/component"
	// LabelManagedBy marks objects dagster-dev created itself (namespaces,
	// ConfigMap/Secret sources, the watch Lease), so down removes those and
	// nothing else. Helm sets it to "Helm" on chart objects.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelCreatedBy marks objects the end-to-end suite creates for a case.
	LabelCreatedBy = "app.kubernetes.io/created-by"
	// LabelRunID is set by Dagster on the run and step Jobs it launches.
	LabelRunID = "dagster/run-id"
	// LabelVolumeBinder marks the short-lived pod ProvisionClaims binds
	// claims with.
	LabelVolumeBinder = "dagster-dev.io/volume-binder"

	// HelmReleaseAnnotation is set by Helm (3.2+) on every object it
	// creates, subcharts included: it finds the release's objects without
	// relying on how each template labels them.
	HelmReleaseAnnotation = "meta.helm.sh/release-name"
	// HelmNamespaceAnnotation is its namespace twin; with both and
	// LabelManagedBy=HelmManagedByValue an existing object is adopted by
	// `helm install` instead of refused as a conflict.
	HelmNamespaceAnnotation = "meta.helm.sh/release-namespace"
)

// HelmManagedByValue is LabelManagedBy's value on what Helm creates.
const HelmManagedByValue = "Helm"

// ManagedByValue is LabelManagedBy's value on what dagster-dev creates.
const ManagedByValue = "dagster-dev"

// ManagedByLabels are the labels of an object dagster-dev creates itself.
func ManagedByLabels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedByValue}
}

// ManagedBySelector selects the objects dagster-dev created itself.
func ManagedBySelector() string {
	return labels.SelectorFromSet(ManagedByLabels()).String()
}

// ReleaseSelector selects every object of a release, subcharts included.
func ReleaseSelector(release string) string {
	return labels.SelectorFromSet(labels.Set{LabelInstance: release}).String()
}

// ComponentSelector selects one component's objects of a release.
func ComponentSelector(release, component string) string {
	return labels.SelectorFromSet(labels.Set{LabelInstance: release, LabelComponent: component}).String()
}

// RunSelector selects the Jobs and pods of one Dagster run.
func RunSelector(runID string) string {
	return labels.SelectorFromSet(labels.Set{LabelRunID: runID}).String()
}
