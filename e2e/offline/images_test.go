package offline_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dagster-dev/dagster-dev/e2e/offline/harness"
)

// TestDagsterImage: the image is a drop-in for dagster/dagster-celery-k8s.
func TestDagsterImage(t *testing.T) {
	requireE2E(t, harness.DagsterImage)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(args ...string) string {
		t.Helper()
		return mustDocker(t, ctx, append([]string{"run", "--rm", harness.DagsterImage}, args...)...)
	}
	if v := run("dagster", "--version"); !strings.Contains(v, harness.DagsterVersion) {
		t.Fatalf("dagster --version = %q, want %s", v, harness.DagsterVersion)
	}
	if out := run("dagster-webserver", "--help"); !strings.Contains(out, "Usage") {
		t.Fatalf("dagster-webserver --help: %s", out)
	}
	if out := run("dagster-celery", "--help"); !strings.Contains(out, "worker") {
		t.Fatalf("dagster-celery --help: %s", out)
	}
	out := run("sh", "-c", `for c in dagster dagster-webserver dagster-daemon dagster-graphql dagster-celery celery; do command -v $c || exit 1; done
test -d /opt/dagster/dagster_home && echo "home $DAGSTER_HOME"
python3 -c "import dagster_celery_k8s, dagster_k8s, dagster_postgres, dagster_celery; print('imports ok')"`)
	for _, want := range []string{"/dagster-daemon", "/celery", "home /opt/dagster/dagster_home", "imports ok"} {
		if !strings.Contains(out, want) {
			t.Fatalf("image check lacks %q:\n%s", want, out)
		}
	}
}

// TestPostgresImage: env credentials, password auth over TCP, data kept
// across a container restart.
func TestPostgresImage(t *testing.T) {
	requireE2E(t, harness.PostgresImage, harness.DagsterImage)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	net := uniqueName("harness-pg")
	mustDocker(t, ctx, "network", "create", net)
	t.Cleanup(func() { docker(context.Background(), "network", "rm", net) })
	name := net + "-db"
	// PGDATA on an empty root-owned directory, as a fresh Kubernetes volume
	// (hostPath/local-path) arrives; the entrypoint must take it over.
	data := t.TempDir()
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	mustDocker(t, ctx, "run", "-d", "--name", name, "--network", net, "--network-alias", "db",
		"-v", data+":/var/lib/postgresql/data",
		"-e", "POSTGRES_USER=dagster", "-e", "POSTGRES_PASSWORD=s3cret pw", "-e", "POSTGRES_DB=runs", harness.PostgresImage)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := docker(context.Background(), "logs", name)
			t.Logf("postgres logs:\n%s", logs)
		}
		docker(context.Background(), "rm", "-f", "-v", name)
	})
	waitPG := func() {
		t.Helper()
		err := eventually(ctx, 90*time.Second, time.Second, func() error {
			_, err := docker(ctx, "exec", name, "pg_isready", "-h", "127.0.0.1", "-U", "dagster", "-d", "runs")
			return err
		})
		if err != nil {
			t.Fatalf("postgres not ready: %v", err)
		}
	}
	waitPG()
	if u := strings.Fields(mustDocker(t, ctx, "exec", name, "sh", "-c", "stat -c %U /proc/1; id -u postgres; stat -c %u $PGDATA")); strings.Join(u, " ") != "postgres 999 999" {
		t.Fatalf("server user, postgres uid, PGDATA owner = %v, want postgres 999 999", u)
	}
	// a client in another container, over the network, with the password
	py := func(code string) (string, error) {
		return docker(ctx, "run", "--rm", "--network", net, harness.DagsterImage, "python3", "-c", code)
	}
	connect := `import psycopg2; c = psycopg2.connect(host="db", user="dagster", password=%q, dbname="runs"); c.autocommit = True; cur = c.cursor()
`
	if _, err := py(fmt.Sprintf(connect, "s3cret pw") + `cur.execute("CREATE TABLE kept (v text)"); cur.execute("INSERT INTO kept VALUES ('across restarts')")`); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := py(fmt.Sprintf(connect, "wrong")); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("a wrong password was not refused: %v", err)
	}
	start := time.Now()
	mustDocker(t, ctx, "restart", name)
	waitPG()
	t.Logf("postgres restart until ready: %s", time.Since(start).Round(100*time.Millisecond))
	var got string
	err := eventually(ctx, 30*time.Second, time.Second, func() error {
		var err error
		got, err = py(fmt.Sprintf(connect, "s3cret pw") + `cur.execute("SELECT v FROM kept"); print(cur.fetchone()[0])`)
		return err
	})
	if err != nil || !strings.Contains(got, "across restarts") {
		t.Fatalf("data after restart: %q, %v", got, err)
	}
	if logs := mustDocker(t, ctx, "logs", name); strings.Count(logs, "PostgreSQL init process complete") != 1 {
		t.Fatalf("initdb ran %d times, want once:\n%s", strings.Count(logs, "PostgreSQL init process complete"), logs)
	}
}

// TestRabbitMQImage: env credentials accepted over AMQP, management API up,
// rabbitmq-diagnostics works.
func TestRabbitMQImage(t *testing.T) {
	requireE2E(t, harness.RabbitMQImage, harness.DagsterImage)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	net := uniqueName("harness-mq")
	mustDocker(t, ctx, "network", "create", net)
	t.Cleanup(func() { docker(context.Background(), "network", "rm", net) })
	name := net + "-mq"
	data := t.TempDir() // an empty root-owned data volume, as Kubernetes mounts one
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	mustDocker(t, ctx, "run", "-d", "--name", name, "--hostname", "mq", "--network", net, "--network-alias", "mq",
		"-v", data+":/var/lib/rabbitmq",
		"-e", "RABBITMQ_DEFAULT_USER=dagster", "-e", "RABBITMQ_DEFAULT_PASS=s3cret", harness.RabbitMQImage)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := docker(context.Background(), "logs", "--tail", "80", name)
			t.Logf("rabbitmq logs:\n%s", logs)
		}
		docker(context.Background(), "rm", "-f", "-v", name)
	})
	start := time.Now()
	err := eventually(ctx, 3*time.Minute, 2*time.Second, func() error {
		_, err := docker(ctx, "exec", name, "rabbitmq-diagnostics", "-q", "check_port_connectivity")
		return err
	})
	if err != nil {
		t.Fatalf("rabbitmq not ready: %v", err)
	}
	t.Logf("rabbitmq ready after %s", time.Since(start).Round(100*time.Millisecond))
	mustDocker(t, ctx, "exec", name, "rabbitmq-diagnostics", "-q", "ping")
	code := `import base64, json, sys, urllib.request, kombu
user, pw = sys.argv[1], sys.argv[2]
with kombu.Connection("amqp://%s:%s@mq:5672//" % (user, pw), connect_timeout=10) as c:
    c.connect()
    q = c.SimpleQueue("harness")
    q.put({"hello": "offline"})
    m = q.get(timeout=10)
    print("amqp", m.payload)
    m.ack()
    q.close()
req = urllib.request.Request("http://mq:15672/api/overview")
req.add_header("Authorization", "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode())
print("management", json.load(urllib.request.urlopen(req, timeout=10))["rabbitmq_version"])
`
	out, err := docker(ctx, "run", "--rm", "--network", net, harness.DagsterImage, "python3", "-c", code, "dagster", "s3cret")
	if err != nil || !strings.Contains(out, "amqp {'hello': 'offline'}") || !strings.Contains(out, "management 3.") {
		t.Fatalf("AMQP/management check: %v\n%s", err, out)
	}
	t.Log(out)
	if out, err := docker(ctx, "run", "--rm", "--network", net, harness.DagsterImage, "python3", "-c", code, "dagster", "wrong"); err == nil {
		t.Fatalf("a wrong password was accepted:\n%s", out)
	}
}
