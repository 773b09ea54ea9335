package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// VaultKV is a Witness in one Vault KV v2 entry. Every checkpoint is written
// as a new version with check-and-set, so the entry only moves forward and
// its version history (the mount's max_versions) shows each step. The
// gateway's Vault policy needs create, update and read on the entry's data
// path and read on its metadata path; it should not be allowed to delete or
// destroy versions (deploy/vault/ura.hcl).
type VaultKV struct {
	client      *vault.Client
	mount, path string
}

var _ Witness = (*VaultKV)(nil)

// NewVaultKV keeps checkpoints at mount/path in client's Vault. client must
// be authenticated (or be kept logged in by its owner).
func NewVaultKV(client *vault.Client, mount, path string) *VaultKV {
	return &VaultKV{client: client, mount: strings.Trim(mount, "/"), path: strings.Trim(path, "/")}
}

// String names the entry.
func (k *VaultKV) String() string { return "vault kv " + k.mount + "/" + k.path }

// Fields of the entry's data. checkpoint is the SignedCheckpoint's JSON,
// parsed as strictly as a stored one; count is there for people reading
// the entry.
const (
	kvFieldCheckpoint = "checkpoint"
	kvFieldCount      = "count"
)

// Latest reads the current version. A current version that was deleted or
// destroyed is an error, not an empty witness: only removing the entry's
// metadata (all versions) empties it. So is an older checkpoint written
// after a newer one (a replay by someone holding the gateway's token): every
// version still kept (the mount's max_versions) is read, and none may cover
// more events than the current one.
func (k *VaultKV) Latest(ctx context.Context) (*SignedCheckpoint, int, error) {
	meta, err := k.client.KVv2(k.mount).GetMetadata(ctx, k.path)
	if errors.Is(err, vault.ErrSecretNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if meta.CurrentVersion == 0 {
		return nil, 0, nil
	}
	cur, err := k.version(ctx, meta.CurrentVersion)
	if err != nil {
		return nil, 0, err
	}
	if cur == nil {
		return nil, 0, fmt.Errorf("%s: current version %d was deleted or destroyed, so a rollback cannot be ruled out: %w", k, meta.CurrentVersion, ErrWitnessTampered)
	}
	for name, vm := range meta.Versions {
		n, err := strconv.Atoi(name)
		if err != nil || n == meta.CurrentVersion || vm.Destroyed || !vm.DeletionTime.IsZero() {
			continue
		}
		old, err := k.version(ctx, n)
		if err != nil {
			return nil, 0, err
		}
		if old != nil && old.Count > cur.Count {
			return nil, 0, fmt.Errorf("%s: version %d covers %d events but the current version %d only %d: %w",
				k, n, old.Count, meta.CurrentVersion, cur.Count, ErrWitnessTampered)
		}
	}
	return cur, meta.CurrentVersion, nil
}

// version reads one version's checkpoint; nil when it was deleted.
func (k *VaultKV) version(ctx context.Context, n int) (*SignedCheckpoint, error) {
	s, err := k.client.KVv2(k.mount).GetVersion(ctx, k.path, n)
	if err != nil && !errors.Is(err, vault.ErrSecretNotFound) {
		return nil, err
	}
	if s == nil || s.Data == nil || (s.VersionMetadata != nil && (s.VersionMetadata.Destroyed || !s.VersionMetadata.DeletionTime.IsZero())) {
		return nil, nil
	}
	raw, ok := s.Data[kvFieldCheckpoint].(string)
	if !ok {
		return nil, fmt.Errorf("%s version %d: no %q field", k, n, kvFieldCheckpoint)
	}
	cp, err := parseCheckpoint([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("%s version %d: %w", k, n, err)
	}
	return &cp, nil
}

// Put writes cp as version version+1 (check-and-set on version; 0 creates
// the entry).
func (k *VaultKV) Put(ctx context.Context, cp SignedCheckpoint, version int) (int, error) {
	line, err := canonicalJSON(cp)
	if err != nil {
		return 0, err
	}
	s, err := k.client.KVv2(k.mount).Put(ctx, k.path, map[string]any{
		kvFieldCheckpoint: string(line),
		kvFieldCount:      strconv.FormatInt(cp.Count, 10),
	}, vault.WithCheckAndSet(version))
	if err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "check-and-set") {
			return 0, fmt.Errorf("%s: %w", k, ErrWitnessMoved)
		}
		return 0, err
	}
	if s == nil || s.VersionMetadata == nil {
		return 0, fmt.Errorf("%s: write returned no version", k)
	}
	return s.VersionMetadata.Version, nil
}
