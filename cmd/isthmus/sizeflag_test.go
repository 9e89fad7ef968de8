package main

import (
	"bytes"
	"testing"
)

func TestServeSizeFlags(t *testing.T) {
	opts, _, err := parseServeFlags([]string{"--config-dir", ".", "--max-file-size", "1GiB", "--max-document-size", "512KiB"})
	if err != nil {
		t.Fatal(err)
	}
	if l := opts.limits(); l.MaxFileBytes != 1<<30 || l.MaxDocumentBytes != 512<<10 {
		t.Errorf("limits %+v", l)
	}
	if opts, _, _ = parseServeFlags([]string{"--config-dir", "."}); opts.maxFileSize.String() != "16MiB" || opts.maxDocumentSize.String() != "4MiB" {
		t.Errorf("defaults %s and %s, want 16MiB and 4MiB", &opts.maxFileSize, &opts.maxDocumentSize)
	}
}

func TestServeSizeFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--config-dir", ".", "--max-file-size", "0"},
		{"--config-dir", ".", "--max-document-size", "4 MiB"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runServe(args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}
