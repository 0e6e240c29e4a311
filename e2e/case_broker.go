package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/dagster-dev/dagster-dev/internal/kube"
	"github.com/dagster-dev/dagster-dev/internal/text"

	corev1 "k8s.io/api/core/v1"
)

// workerQueues reads the queues a worker consumes from its `-q` arguments
// (up to the `--` that starts Celery's own arguments); dagster-celery's
// default queue is "dagster".
func workerQueues(c corev1.Container) []string {
	args := append(slices.Clone(c.Command), c.Args...)
	var qs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		switch {
		case (a == "-q" || a == "--queue") && i+1 < len(args):
			qs = append(qs, args[i+1])
			i++
		case strings.HasPrefix(a, "--queue="):
			qs = append(qs, strings.TrimPrefix(a, "--queue="))
		}
	}
	if len(qs) == 0 {
		qs = []string{"dagster"}
	}
	return qs
}

// parseRabbitJSON decodes `rabbitmqctl ... --formatter json` output, which
// may be preceded by informational lines on older versions.
func parseRabbitJSON(out string, v any) error {
	i := strings.IndexByte(out, '[')
	if i < 0 {
		return fmt.Errorf("no JSON list in rabbitmqctl output: %s", text.Snippet([]byte(out)))
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out[i:])), v); err != nil {
		return fmt.Errorf("decoding rabbitmqctl output: %w: %s", err, text.Snippet([]byte(out)))
	}
	return nil
}

// brokerState is what RabbitMQ says about consumers and connections.
type brokerState struct {
	consumers map[string]int // queue -> consumer count
	peers     map[string]bool
}

func (s *suite) readBroker(ctx context.Context, pod *corev1.Pod) (brokerState, error) {
	st := brokerState{consumers: map[string]int{}, peers: map[string]bool{}}
	out, err := s.kube.exec(ctx, pod, "", "rabbitmqctl", "-q", "list_queues", "name", "consumers", "--formatter", "json")
	if err != nil {
		return st, err
	}
	var queues []struct {
		Name      string `json:"name"`
		Consumers int    `json:"consumers"`
	}
	if err := parseRabbitJSON(out, &queues); err != nil {
		return st, err
	}
	for _, q := range queues {
		st.consumers[q.Name] = q.Consumers
	}
	out, err = s.kube.exec(ctx, pod, "", "rabbitmqctl", "-q", "list_connections", "peer_host", "--formatter", "json")
	if err != nil {
		return st, err
	}
	var conns []struct {
		PeerHost json.RawMessage `json:"peer_host"`
	}
	if err := parseRabbitJSON(out, &conns); err != nil {
		return st, err
	}
	for _, c := range conns {
		ip, err := parsePeerHost(c.PeerHost)
		if err != nil {
			return st, err
		}
		st.peers[ip] = true
	}
	return st, nil
}

// parsePeerHost reads rabbitmqctl's peer_host, which its JSON formatter
// writes as a string or as the Erlang address tuple: 4 octets, or 8 16-bit
// groups — an IPv4 peer on a dual-stack listener arrives IPv4-mapped, as
// [0,0,0,0,0,65535,2804,37] for 10.244.0.37. The result is the address as
// a pod's status.podIP spells it.
func parsePeerHost(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if ip := net.ParseIP(s); ip != nil {
			return ip.String(), nil
		}
		return s, nil
	}
	var parts []int
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("rabbitmqctl peer_host %s: neither a string nor an address tuple", raw)
	}
	var ip net.IP
	switch len(parts) {
	case 4:
		ip = net.IPv4(byte(parts[0]), byte(parts[1]), byte(parts[2]), byte(parts[3]))
	case 8:
		ip = make(net.IP, net.IPv6len)
		for i, p := range parts {
			ip[2*i], ip[2*i+1] = byte(p>>8), byte(p)
		}
	default:
		return "", fmt.Errorf("rabbitmqctl peer_host %s: not an IPv4 or IPv6 address tuple", raw)
	}
	return ip.String(), nil
}

// brokerProblems checks that each queue has at least one consumer per
// worker and that every worker pod has a connection open.
func brokerProblems(st brokerState, queues []string, workers []corev1.Pod) []string {
	var out []string
	for _, q := range queues {
		n, ok := st.consumers[q]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("queue %q does not exist in RabbitMQ (queues: %s)", q, text.ListOrNone(sortedKeys(st.consumers))))
		case n < len(workers):
			out = append(out, fmt.Sprintf("queue %q has %d consumers, want at least %d (one per Celery worker pod)", q, n, len(workers)))
		}
	}
	for _, w := range workers {
		if w.Status.PodIP != "" && !st.peers[w.Status.PodIP] {
			out = append(out, fmt.Sprintf("Celery worker pod %s (%s) has no connection to RabbitMQ", w.Name, w.Status.PodIP))
		}
	}
	return out
}

func (s *suite) caseBroker(ctx context.Context, t *T) error {
	base, err := s.baseValues()
	if err != nil {
		return err
	}
	if !celeryIn(base) {
		return notWithoutCelery("no workers, no broker")
	}
	if !valueOr(base, true, "rabbitmq", "enabled") {
		return skipf("rabbitmq.enabled is false: the suite does not inspect an external broker")
	}
	ws, err := s.kube.releaseWorkloads(ctx)
	if err != nil {
		return err
	}
	rmq, ok := findWorkload(ws, kube.ComponentBroker, "rabbitmq")
	if !ok {
		return fmt.Errorf("release %s has no RabbitMQ workload (workloads: %s)", s.cfg.Release, workloadIDs(ws))
	}
	worker, ok := findWorkload(ws, kube.ComponentWorker, "celery-workers")
	if !ok {
		return fmt.Errorf("release %s has no Celery worker workload (workloads: %s)", s.cfg.Release, workloadIDs(ws))
	}

	// Workers restarted by an earlier case connect a few seconds after they
	// turn Ready; poll briefly before judging.
	deadline := time.Now().Add(min(s.timeout(), 2*time.Minute))
	for {
		// A crash-looping worker or broker will not connect by waiting.
		if ws, err := s.kube.releaseWorkloads(ctx); err == nil {
			for _, w := range ws {
				if (w.ID() == worker.ID() || w.ID() == rmq.ID()) && w.status.Failure != nil {
					return w.status.Failure
				}
			}
		}
		var problems []string
		workers, err := s.kube.readyPods(ctx, worker.selector)
		if err != nil {
			return err
		}
		rpods, err := s.kube.readyPods(ctx, rmq.selector)
		if err != nil {
			return err
		}
		switch {
		case len(workers) == 0:
			problems = append(problems, worker.ID()+" has no Ready pod")
		case len(rpods) == 0:
			problems = append(problems, rmq.ID()+" has no Ready pod")
		default:
			queues := workerQueues(workers[0].Spec.Containers[0])
			st, err := s.readBroker(ctx, &rpods[0])
			if err != nil {
				return err
			}
			problems = brokerProblems(st, queues, workers)
			if len(problems) == 0 {
				t.Logf("queues %s: %d worker pods connected and consuming", strings.Join(queues, ", "), len(workers))
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New(strings.Join(problems, "\n"))
		}
		if err := sleep(ctx, 3*time.Second); err != nil {
			return err
		}
	}
}
