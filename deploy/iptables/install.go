package iptables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// RestoreCommands are tried in order: Debian's iptables-restore (the
// nf_tables backend), then the legacy backend for kernels without nf_tables.
var RestoreCommands = []string{"iptables-restore", "iptables-legacy-restore"}

// Install loads rules (Rules' output) into the current network namespace
// and returns the command that loaded them. prefix, when given, runs the
// command through another one (the tests use "ip netns exec NAME").
func Install(ctx context.Context, rules string, prefix ...string) (string, error) {
	var errs []error
	for _, bin := range RestoreCommands {
		if _, err := exec.LookPath(bin); err != nil {
			errs = append(errs, fmt.Errorf("%s: not found", bin))
			continue
		}
		argv := append(append([]string{}, prefix...), bin)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdin = strings.NewReader(rules)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String())))
			continue
		}
		return bin, nil
	}
	return "", fmt.Errorf("install capture rules: %w", errors.Join(errs...))
}
