package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"time"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func indexPath(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// unwrapPathError drops the path from an *fs.PathError: the field path already
// names the file, and repeating it only makes messages longer.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (v *validator) file(field, path string, required bool) {
	if path == "" {
		if required {
			v.add(field, "must be set")
		}
		return
	}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		v.add(field, "cannot read %s: %v", path, unwrapPathError(err))
	case st.IsDir():
		v.add(field, "%s is a directory", path)
	}
}

func (v *validator) hostPort(field, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(field, "must be host:port; got %q", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(field, "port must be 0-65535; got %q", port)
	}
	_ = host
}

func (v *validator) positive(field string, d time.Duration) {
	if d <= 0 {
		v.add(field, "must be a positive duration such as 30s or 5m")
	}
}
