package kubeharness

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pollInterval is how often readiness is checked.
const pollInterval = 100 * time.Millisecond

// waitReady waits until the apiserver's /readyz answers ok and the
// `default` namespace exists (the apiserver creates it just after it is
// ready). A component that exits ends the wait; either way the error
// carries the logs' tails.
func (c *Cluster) waitReady(ctx context.Context) error {
	err := poll(ctx, c.failed, c.ready)
	if err != nil && c.failed() == nil { // an exit's error has its log already
		err = fmt.Errorf("%w\n%s", err, c.Logs(20))
	}
	return err
}

// ready checks once whether the apiserver serves requests.
func (c *Cluster) ready(ctx context.Context) error {
	body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("/readyz: %w: %s", err, body)
	}
	_, err = c.Client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return errors.New("namespace default does not exist yet")
	}
	return err
}

// poll calls check until it returns nil, or fatal returns an error, or ctx
// ends; the error then says what check last reported.
func poll(ctx context.Context, fatal func() error, check func(context.Context) error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		if err := fatal(); err != nil {
			return err
		}
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last: %v", context.Cause(ctx), err)
		case <-ticker.C:
		}
	}
}
