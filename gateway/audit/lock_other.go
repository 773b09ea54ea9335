//go:build !unix

package audit

import "os"

// lockFile only creates the lock file where flock is not available; the
// operator must then make sure one gateway owns the directory.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
