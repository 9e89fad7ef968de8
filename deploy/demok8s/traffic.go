package demok8s

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// callResult is demoapp's GET /call answer: what the pod got.
type callResult struct {
	URL    string
	Status int
	Body   string
	Error  string
}

// answer is the part of demoapp's GET / answer the demo reads.
type answer struct {
	App, Pod, Cloud string
	ClientCert      string
}

// answered decodes the body a call got from a demoapp.
func (r callResult) answered() answer {
	var a answer
	_ = json.Unmarshal([]byte(r.Body), &a)
	return a
}

func (r callResult) String() string {
	if r.Error != "" {
		return "error: " + r.Error
	}
	return fmt.Sprintf("HTTP %d from %s/%s", r.Status, r.answered().Cloud, r.answered().Pod)
}

// hostClient bounds every request the host sends to a driver pod.
var hostClient = &http.Client{Timeout: 10 * time.Second}

// callFrom makes the driver pod GET target from inside the pod, through
// its sidecar.
func callFrom(ctx context.Context, from corev1.Pod, target string) (callResult, error) {
	u := fmt.Sprintf("http://%s:%d/call?url=%s", from.Status.PodIP, AppPort, url.QueryEscape(target))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return callResult{}, err
	}
	resp, err := hostClient.Do(req)
	if err != nil {
		return callResult{}, fmt.Errorf("pod %s: %w", from.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return callResult{}, fmt.Errorf("pod %s: %w", from.Name, err)
	}
	var r callResult
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("pod %s: /call answered %s: %q", from.Name, resp.Status, body)
	}
	return r, nil
}

// serviceBURL is service-b's URL for path, as a client dials it.
func serviceBURL(path string) string {
	return fmt.Sprintf("http://%s:%d%s", ServiceBHost, AppPort, path)
}

// waitStatus calls target from a pod until it answers with status, and
// returns the last result.
func waitStatus(ctx context.Context, from corev1.Pod, target string, status int, timeout time.Duration) (callResult, error) {
	var last callResult
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		last, err = callFrom(ctx, from, target)
		return err == nil && last.Status == status, nil
	})
	if err != nil {
		return last, fmt.Errorf("%s from pod %s: want HTTP %d, last %s: %w", target, from.Name, status, last, err)
	}
	return last, nil
}

// tally counts calls by the cloud that answered, and failures.
type tally struct {
	mu       sync.Mutex
	byCloud  map[string]int
	failures []string
}

func newTally() *tally { return &tally{byCloud: map[string]int{}} }

func (t *tally) add(r callResult, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case err != nil:
		t.failures = append(t.failures, err.Error())
	case r.Status != http.StatusOK:
		t.failures = append(t.failures, r.String())
	default:
		t.byCloud[r.answered().Cloud]++
	}
}

// counts are the answers by cloud and the failures so far.
func (t *tally) counts() (map[string]int, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	byCloud := map[string]int{}
	for k, v := range t.byCloud {
		byCloud[k] = v
	}
	return byCloud, append([]string(nil), t.failures...)
}

func (t *tally) total() int {
	byCloud, failures := t.counts()
	n := len(failures)
	for _, v := range byCloud {
		n += v
	}
	return n
}

// send makes n calls of target from a pod, one after the other.
func send(ctx context.Context, from corev1.Pod, target string, n int) *tally {
	t := newTally()
	for range n {
		t.add(callFrom(ctx, from, target))
	}
	return t
}

// traffic is calls sent continuously from a pod until stopped.
type traffic struct {
	*tally
	stop context.CancelFunc
	done chan struct{}
}

// startTraffic calls target from a pod every interval until stop.
func startTraffic(ctx context.Context, from corev1.Pod, target string, interval time.Duration) *traffic {
	ctx, cancel := context.WithCancel(ctx)
	tr := &traffic{tally: newTally(), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				r, err := callFrom(ctx, from, target)
				if ctx.Err() == nil {
					tr.add(r, err)
				}
			}
		}
	}()
	return tr
}

// finish stops the traffic and waits for its last call.
func (tr *traffic) finish() *tally {
	tr.stop()
	<-tr.done
	return tr.tally
}
