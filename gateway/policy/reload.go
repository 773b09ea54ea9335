package policy

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Reload targets.
const (
	TargetActive = "active"
	TargetShadow = "shadow"
)

// ReloadInfo is the last reload attempt that changed or tried to change a
// policy.
type ReloadInfo struct {
	At       time.Time `json:"at"`
	Target   string    `json:"target"`
	Result   string    `json:"result"`
	Revision string    `json:"revision"`
}

// Reload re-reads the active and shadow sources and swaps in every policy
// whose files changed. A source that fails to read, verify or compile keeps
// the running policy; the same failing revision is not retried until its
// files change again.
func (e *OPA) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	err := e.reloadOne(ctx, TargetActive, e.activeSrc, &e.active)
	if e.shadowSrc != nil {
		err = errors.Join(err, e.reloadOne(ctx, TargetShadow, *e.shadowSrc, &e.shadow))
	}
	return err
}

func (e *OPA) reloadOne(ctx context.Context, target string, src Source, slot *atomic.Pointer[compiled]) error {
	snap, err := src.read()
	if err != nil {
		// A file caught mid-write reads as broken; the next poll sees the
		// finished state. Count it only once per broken state.
		key := "unreadable:" + err.Error()
		if e.failed[target] != key {
			e.failed[target] = key
			e.reloadResult(target, "", err)
		}
		return fmt.Errorf("%s policy: %w", target, err)
	}
	cur := slot.Load()
	if cur != nil && snap.revision == cur.revision {
		delete(e.failed, target)
		return nil
	}
	if e.failed[target] == snap.revision {
		return nil
	}
	l, err := src.loadSnapshot(snap)
	var c *compiled
	if err == nil {
		c, err = compile(ctx, l)
	}
	if err != nil {
		e.failed[target] = snap.revision
		e.reloadResult(target, snap.revision, err)
		return fmt.Errorf("%s policy: %w", target, err)
	}
	slot.Store(c)
	delete(e.failed, target)
	e.reloadResult(target, c.revision, nil)
	return nil
}

func (e *OPA) reloadResult(target, revision string, err error) {
	info := &ReloadInfo{At: time.Now().UTC(), Target: target, Result: "ok", Revision: revision}
	if err != nil {
		info.Result = "error"
		e.log.Error("policy reload refused; keeping the running policy", "target", target, "revision", revision, "error", err)
	} else {
		e.log.Info("policy reloaded", "target", target, "revision", revision)
	}
	e.metrics.reloads.WithLabelValues(info.Result).Inc()
	e.lastReload.Store(info)
}

// Watch polls the sources every interval and reloads what changed, until
// ctx ends. Polling sees atomic renames and mounted volumes alike.
func (e *OPA) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			e.Close()
			return
		case <-t.C:
			_ = e.Reload(ctx)
		}
	}
}

// PolicyInfo describes one loaded policy revision.
type PolicyInfo struct {
	Revision string `json:"revision"`
	// Source is embedded, dir or bundle: never a path.
	Source string `json:"source"`
	// ManifestRevision is the revision a bundle's .manifest declares.
	ManifestRevision string    `json:"manifest_revision,omitempty"`
	LoadedAt         time.Time `json:"loaded_at"`
}

// Status is what GET /v1/policy shows.
type Status struct {
	Active            PolicyInfo  `json:"active"`
	Shadow            *PolicyInfo `json:"shadow"`
	ShadowDivergences uint64      `json:"shadow_divergences"`
	LastReload        *ReloadInfo `json:"last_reload,omitempty"`
	Timeout           string      `json:"timeout"`
}

// StatusReporter is implemented by engines that can describe their state.
type StatusReporter interface {
	Status() Status
}

var _ StatusReporter = (*OPA)(nil)

// Status describes the running policies.
func (e *OPA) Status() Status {
	st := Status{
		Active:            info(e.active.Load()),
		ShadowDivergences: e.DivergenceCount(),
		LastReload:        e.lastReload.Load(),
		Timeout:           e.timeout.String(),
	}
	if sc := e.shadow.Load(); sc != nil {
		si := info(sc)
		st.Shadow = &si
	}
	return st
}

func info(c *compiled) PolicyInfo {
	return PolicyInfo{Revision: c.revision, Source: c.source.Kind, ManifestRevision: c.manifestRevision, LoadedAt: c.loadedAt}
}
