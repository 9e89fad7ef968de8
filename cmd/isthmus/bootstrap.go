package main

import (
	"fmt"
	"io"
)

func runBootstrap(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "isthmus bootstrap: not written yet")
	return 1
}
