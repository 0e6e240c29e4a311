package config

// Starter is the commented file `dagster-dev init` writes. Every setting is
// shown with its default, so the file documents itself; it must load cleanly
// (a test checks that).
const Starter = `# dagster-dev.yaml: one Dagster on Kubernetes on this machine.
# Every field is optional; the values shown are the defaults.

cluster:
  # Name of the kind cluster dagster-dev creates (and only ever deletes).
  name: dagster-dev
  # Node image; empty means kind's default node image.
  nodeImage: ""
  # 1 = a single control-plane node; N > 1 adds N-1 workers.
  nodes: 1
  # Set to an existing kubeconfig context to skip kind and install there.
  context: ""

dagit:
  # Dagit is served on http://127.0.0.1:<hostPort> (never on other interfaces).
  hostPort: 3000
  # The Dagit Service NodePort the host port maps to (30000-32767).
  nodePort: 30080

# Created with the restricted Pod Security Standard enforced (every pod of the chart is hardened).
namespace: dagster
release: dagster

# CeleryK8sRunLauncher: RabbitMQ and Celery workers start each step as a Job. K8sRunLauncher: the
# run's pod starts each step as a Job (k8s_job_executor); no workers, no RabbitMQ.
runLauncher: CeleryK8sRunLauncher

# How long up waits for every workload to be Ready.
timeout: 10m

# Local Docker images to side-load into the cluster nodes (use explicit tags).
images: []
#  - my-team/user-code:dev

# Chart values files (relative to this file), applied in order, then values.
valuesFiles: []
values: {}
#  dagit:
#    env:
#      MY_SETTING: "1"

# Your Dagster code locations; none means the bundled example location.
codeLocations: []
#  - name: analytics                # the location name Dagit shows
#    path: ./analytics              # project directory: mounted into the code server and every run
#    module: analytics.definitions  # or file: definitions.py (relative to path)
#    image: my-team/analytics:dev   # optional: an image with the project's dependencies
#    env: {TEAM: data}              # optional: env of the code server and the location's runs
# What "dagster-dev watch" keeps in sync.
watch:
  env:
    # dotenv files whose entries become dagit.env / job_runner.env.
    dagit: ""
    job_runner: ""
  # ConfigMaps and Secrets built from files; attached in this order, so later
  # sources win (values env < ConfigMaps < Secrets).
  sources: []
#    - name: team-config
#      kind: ConfigMap         # or Secret
#      path: config/team.env   # dotenv, YAML map, directory, or manifest
#      attach: [dagit, job_runner]
  debounce: 200ms
`

// starterLocations is the codeLocations block of Starter that StarterWith
// replaces with detected locations.
const starterLocations = `codeLocations: []
#  - name: analytics                # the location name Dagit shows
#    path: ./analytics              # project directory: mounted into the code server and every run
#    module: analytics.definitions  # or file: definitions.py (relative to path)
#    image: my-team/analytics:dev   # optional: an image with the project's dependencies
#    env: {TEAM: data}              # optional: env of the code server and the location's runs
`
