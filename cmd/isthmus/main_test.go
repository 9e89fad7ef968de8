package main

import (
	"os"
	"testing"
)

// testMainEnv, set to 1, makes the test binary run the isthmus command with
// its arguments instead of the tests, so that a test can run isthmus in a
// child process without building it.
const testMainEnv = "ISTHMUS_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(testMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
