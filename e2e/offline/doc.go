// Package offline is the offline harness: `e2e/offline/prepare` builds a kind
// node image and the Dagster, PostgreSQL and RabbitMQ images with no
// container registry (see harness/ and builders/), and the tests in this
// directory prove them (DAGSTER_DEV_E2E=1): a real kind cluster created
// through the kind Go API, and the app images run with docker.
// dagster-dev.yaml is a dagster-dev configuration that uses the images.
package offline
