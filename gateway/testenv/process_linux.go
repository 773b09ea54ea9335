package testenv

import "syscall"

// A test binary killed by its -timeout runs no cleanups; the parent-death
// signal keeps its servers from outliving it. The kernel sends it when the
// forking OS thread exits, which the Go runtime only does for goroutines that
// exit while locked to their thread — something test code does not do around
// StartRedis or StartVault.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
