package main

import (
	"fmt"
	"io"
)

func runValidate(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "isthmus validate: not written yet")
	return 1
}
