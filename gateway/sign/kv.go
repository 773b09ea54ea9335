package sign

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// kv signs in memory with a private key read from Vault KV v2, for the
// highest throughput. The secret's field private_key holds a PKCS#8 PEM or a
// private JWK; its KV version is the key version in the kid. Writing a new
// version rotates the key: the metadata is read again after the cache TTL,
// with no restart.
//
// The key may be used only while Vault confirms it: once the cached read is
// older than the TTL and Vault cannot be reached, signing stops, so a key an
// operator deleted during an outage is not used for longer than the TTL.
type kv struct {
	c     *vault.Client
	mount string
	path  string
	alg   jwa.SignatureAlgorithm
	m     *Metrics

	// cache holds what never changes for a version: its creation time and
	// public key. Only load touches it, and the signer serialises loads.
	cache map[int]kvCached
}

type kvCached struct {
	created time.Time
	public  crypto.PublicKey
}

// privateKeyField is the KV field holding the key.
const privateKeyField = "private_key"

func (k *kv) mode() string { return "kv" }

type kvVersionMeta struct {
	CreatedTime  time.Time `json:"created_time"`
	DeletionTime string    `json:"deletion_time"`
	Destroyed    bool      `json:"destroyed"`
}

// live reports whether a version may still be used. A deletion time in the
// future is delete_version_after scheduling it, not a deletion yet.
func (m kvVersionMeta) live(now time.Time) bool {
	if m.Destroyed {
		return false
	}
	if m.DeletionTime == "" {
		return true
	}
	t, err := time.Parse(time.RFC3339Nano, m.DeletionTime)
	return err == nil && t.After(now)
}

type kvMetadata struct {
	CurrentVersion int                      `json:"current_version"`
	Versions       map[string]kvVersionMeta `json:"versions"`
}

type kvSecret struct {
	Data     map[string]any `json:"data"`
	Metadata struct {
		Version     int       `json:"version"`
		CreatedTime time.Time `json:"created_time"`
	} `json:"metadata"`
}

func (k *kv) load(ctx context.Context, prev *keyState) (*keyState, error) {
	var meta kvMetadata
	err := vaultDo(ctx, k.c, http.MethodGet, k.mount+"/metadata/"+k.path, nil, nil, &meta)
	k.m.vault("kv_metadata", err)
	if err != nil {
		return nil, fmt.Errorf("read kv metadata %s: %w", k.path, err)
	}
	now := time.Now()
	cur := meta.CurrentVersion
	cm, ok := meta.Versions[strconv.Itoa(cur)]
	if cur < 1 || !ok {
		return nil, fmt.Errorf("kv %s has no current version", k.path)
	}
	// A deleted current version is an operator revoking the key; falling
	// back to an older one would bring back a key they meant to retire.
	if !cm.live(now) {
		return nil, fmt.Errorf("kv %s: current version %d is deleted or destroyed", k.path, cur)
	}
	if k.cache == nil {
		k.cache = map[int]kvCached{}
	}
	st := &keyState{}
	for name, vm := range meta.Versions {
		v, err := strconv.Atoi(name)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("kv %s: bad version %q", k.path, name)
		}
		if !vm.live(now) || v > cur {
			delete(k.cache, v)
			continue
		}
		if v == cur {
			continue
		}
		c, ok := k.cache[v]
		if !ok || !c.created.Equal(vm.CreatedTime) {
			// Only the public half of an old version is kept.
			key, err := k.read(ctx, v)
			if err != nil {
				return nil, err
			}
			c = kvCached{created: vm.CreatedTime, public: key.Public()}
			k.cache[v] = c
		}
		st.versions = append(st.versions, keyVersion{version: v, public: c.public, created: c.created})
	}
	if prev != nil && prev.private != nil && prev.current.version == cur && prev.current.created.Equal(cm.CreatedTime) {
		st.private = prev.private
	} else {
		if st.private, err = k.read(ctx, cur); err != nil {
			return nil, err
		}
	}
	st.current = keyVersion{version: cur, public: st.private.Public(), created: cm.CreatedTime}
	k.cache[cur] = kvCached{created: cm.CreatedTime, public: st.current.public}
	st.versions = append(st.versions, st.current)
	return st, nil
}

// read fetches and parses one version's private key.
func (k *kv) read(ctx context.Context, version int) (crypto.Signer, error) {
	var sec kvSecret
	err := vaultDo(ctx, k.c, http.MethodGet, k.mount+"/data/"+k.path,
		url.Values{"version": {strconv.Itoa(version)}}, nil, &sec)
	k.m.vault("kv_read", err)
	if err != nil {
		return nil, fmt.Errorf("read kv %s version %d: %w", k.path, version, err)
	}
	if sec.Metadata.Version != version {
		return nil, fmt.Errorf("read kv %s version %d: vault answered version %d", k.path, version, sec.Metadata.Version)
	}
	raw, ok := sec.Data[privateKeyField].(string)
	if !ok || raw == "" {
		return nil, fmt.Errorf("kv %s version %d: no string field %q", k.path, version, privateKeyField)
	}
	key, err := parsePrivateKey(raw)
	if err != nil {
		// The parse error never quotes key material.
		return nil, fmt.Errorf("kv %s version %d: %w", k.path, version, err)
	}
	if err := checkKeyType(key.Public(), k.alg); err != nil {
		return nil, fmt.Errorf("kv %s version %d: %w", k.path, version, err)
	}
	return key, nil
}

func (k *kv) sign(_ context.Context, st *keyState, inputs [][]byte) ([][]byte, error) {
	if st.private == nil {
		return nil, errors.New("no private key loaded")
	}
	out := make([][]byte, len(inputs))
	for i, in := range inputs {
		sig, err := signLocal(st.private, in)
		if err != nil {
			return nil, err
		}
		out[i] = sig
	}
	return out, nil
}
