package rootcert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

const (
	ConfigMapName = "istio-ca-root-cert"
	DataKey       = "root-cert.pem"
	// LabelManaged marks the ConfigMaps Isthmus writes.
	LabelManaged = "istio.io/config"
)

// skipped namespaces never get the roots.
var skipped = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// Sync writes roots into every namespace's ConfigMap.
func Sync(ctx context.Context, client kubernetes.Interface, roots []byte) error {
	namespaces, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	existing, err := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", ConfigMapName).String()})
	if err != nil {
		return fmt.Errorf("list ConfigMaps %s: %w", ConfigMapName, err)
	}
	byNamespace := make(map[string]*corev1.ConfigMap, len(existing.Items))
	for i := range existing.Items {
		byNamespace[existing.Items[i].Namespace] = &existing.Items[i]
	}
	var errs []error
	for _, ns := range namespaces.Items {
		if skipped[ns.Name] || ns.Status.Phase == corev1.NamespaceTerminating {
			continue
		}
		if err := publish(ctx, client, ns.Name, byNamespace[ns.Name], roots); err != nil {
			errs = append(errs, fmt.Errorf("namespace %s: ConfigMap %s: %w", ns.Name, ConfigMapName, err))
		}
	}
	return errors.Join(errs...)
}

// publish creates or updates one namespace's ConfigMap.
func publish(ctx context.Context, client kubernetes.Interface, namespace string, cm *corev1.ConfigMap, roots []byte) error {
	api := client.CoreV1().ConfigMaps(namespace)
	if cm == nil {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: namespace,
			Labels: map[string]string{LabelManaged: "true"}}, Data: map[string]string{DataKey: string(roots)}}
		_, err := api.Create(ctx, cm, metav1.CreateOptions{})
		return err
	}
	if bytes.Equal([]byte(cm.Data[DataKey]), roots) {
		return nil
	}
	if cm.Labels[LabelManaged] != "true" {
		return fmt.Errorf("holds other roots and was not made by Isthmus (no label %s=true): left alone", LabelManaged)
	}
	cm = cm.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[DataKey] = string(roots)
	_, err := api.Update(ctx, cm, metav1.UpdateOptions{})
	return err
}

// DefaultInterval is how often Run makes a pass.
const DefaultInterval = 10 * time.Second

// Options configure Run.
type Options struct {
	Client   kubernetes.Interface
	Roots    func() []byte // the mesh roots, PEM
	Interval time.Duration // default DefaultInterval
	Logger   *slog.Logger  // default slog.Default()
}

// Run keeps every namespace's ConfigMap equal to Roots() until ctx ends.
func Run(ctx context.Context, opts Options) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	lastErr := ""
	for {
		if err := Sync(ctx, opts.Client, opts.Roots()); err != nil && ctx.Err() == nil && err.Error() != lastErr {
			opts.Logger.Warn("mesh roots not published in every namespace; retrying", "configmap", ConfigMapName, "error", err)
			lastErr = err.Error()
		} else if err == nil {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
