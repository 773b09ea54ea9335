// Command ura is the secure inter-institutional data-exchange gateway.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode maps run's error to the process exit status: 0 ok, 2 usage, 1 other.
func exitCode(err error, stderr *os.File) int {
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		note(stderr, "ura: %v\n", err)
		return 2
	default:
		note(stderr, "ura: %v\n", err)
		return 1
	}
}
