// Command kube is one multi-call binary holding the Kubernetes components
// Isthmus's tests run: kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet, kube-proxy (k8s.io/kubernetes v1.37.2) and etcd
// (embedded go.etcd.io/etcd/server/v3).
//
// It dispatches on the name it was invoked as (a symlink named
// kube-apiserver) or on its first argument (`kube kube-apiserver --flags`).
// tools/kube/build.sh builds it into the cache; it is not part of the
// Isthmus module and never ships.
package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // build info metric
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// commands maps each component name to a function running it with args
// (the arguments after the component name) and returning the exit code.
var commands = map[string]func(args []string) int{
	"etcd":                    runEtcd,
	"kube-apiserver":          cobraMain(apiserver.NewAPIServerCommand),
	"kube-controller-manager": cobraMain(controllermanager.NewControllerManagerCommand),
	"kube-scheduler":          cobraMain(func() *cobra.Command { return scheduler.NewSchedulerCommand() }),
	"kubelet":                 cobraMain(func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) }),
	"kube-proxy":              cobraMain(proxy.NewProxyCommand),
}

func main() {
	name, args := dispatch(os.Args)
	run, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "usage: kube COMPONENT [flags]  (or invoke through a symlink named COMPONENT)\ncomponents: %v\n",
			slices.Sorted(maps.Keys(commands)))
		os.Exit(2)
	}
	os.Exit(run(args))
}

// dispatch picks the component from argv[0]'s base name, else from argv[1].
func dispatch(argv []string) (string, []string) {
	if _, ok := commands[filepath.Base(argv[0])]; ok {
		return filepath.Base(argv[0]), argv[1:]
	}
	if len(argv) > 1 {
		return argv[1], argv[2:]
	}
	return "", nil
}

// cobraMain runs a Kubernetes component's cobra command the way its own
// main does (component-base's cli.Run), with args in place of os.Args.
// Signals are left to the component, as in its own main: those that handle
// none (kube-proxy) end on SIGTERM.
func cobraMain(newCommand func() *cobra.Command) func([]string) int {
	return func(args []string) int {
		cmd := newCommand()
		cmd.SetArgs(slices.Clone(args))
		return cli.Run(cmd)
	}
}
