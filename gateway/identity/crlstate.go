package identity

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ura-gateway/ura/certs"
)

// crlStateVersion is the version of the CRL state file's format.
const crlStateVersion = 1

// CRLNumbers is the highest CRL number verified from each issuer and signing
// key (the sequence the in-memory rollback check follows), kept in a file
// so that it outlives the process: after a restart, an older CRL that is
// still inside its validity (fetched again from a distribution point, or a
// file put back) would otherwise be accepted and un-revoke every
// certificate revoked since.
//
// Only numbers of CRLs whose signature verified under their issuer are
// recorded. A CRL's signature is checked when a chain first presents its
// issuer's certificate, so a number is recorded from then on; an unsigned
// list, whatever number it claims, never reaches the file and so can never
// lock out the genuine ones.
//
// The file is rewritten whole, atomically (temporary file, fsync, rename,
// fsync of the directory), whenever a number rises.
type CRLNumbers struct {
	path string
	// OnWriteError, when set, is told when the file could not be written.
	// The higher number is still enforced by this process, and the write is
	// tried again at the next rise or the next Trust built with it. It is
	// called with the numbers locked: it must not use them.
	OnWriteError func(error)

	mu      sync.Mutex
	highest map[crlSeq]recorded
	dirty   bool
}

type recorded struct {
	number *big.Int
	issuer string // the issuer's name, for whoever reads the file
}

// crlStateFile is the file's form.
type crlStateFile struct {
	Version int             `json:"version"`
	Issuers []crlStateEntry `json:"issuers"`
}

type crlStateEntry struct {
	// Issuer is the issuer's name as text, for a reader only.
	Issuer string `json:"issuer"`
	// IssuerDER is the issuer's raw DER name (base64) and KeyID the CRL's
	// authority key identifier (hex): together, the sequence's key.
	IssuerDER string `json:"issuer_der"`
	KeyID     string `json:"key_id"`
	// CRLNumber is decimal: a CRL number may have up to 20 octets, more
	// than a JSON number carries exactly.
	CRLNumber string `json:"crl_number"`
}

// OpenCRLNumbers reads the CRL state file at path. A missing file is an
// empty state (a first start); anything else that cannot be read, or does
// not parse whole, is an error naming the file: starting without it would
// forget every number it holds.
func OpenCRLNumbers(path string) (*CRLNumbers, error) {
	n := &CRLNumbers{path: path, highest: map[crlSeq]recorded{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return nil, fmt.Errorf("crl state file %s: %w", path, err)
	}
	if err := n.parse(raw); err != nil {
		return nil, fmt.Errorf("crl state file %s: corrupt: %w", path, err)
	}
	return n, nil
}

func (n *CRLNumbers) parse(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f crlStateFile
	if err := dec.Decode(&f); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	if f.Version != crlStateVersion {
		return fmt.Errorf("version %d, want %d", f.Version, crlStateVersion)
	}
	for i, e := range f.Issuers {
		der, err := base64.StdEncoding.DecodeString(e.IssuerDER)
		if err != nil || len(der) == 0 {
			return fmt.Errorf("issuers[%d].issuer_der: not a base64 name", i)
		}
		keyID, err := hex.DecodeString(e.KeyID)
		if err != nil {
			return fmt.Errorf("issuers[%d].key_id: not hex", i)
		}
		num, ok := new(big.Int).SetString(e.CRLNumber, 10)
		if !ok || num.Sign() < 0 {
			return fmt.Errorf("issuers[%d].crl_number: %q is not a CRL number", i, e.CRLNumber)
		}
		seq := crlSeq{issuer: string(der), keyID: string(keyID)}
		if _, dup := n.highest[seq]; dup {
			return fmt.Errorf("issuers[%d]: issuer %q and key %s listed twice", i, e.Issuer, e.KeyID)
		}
		n.highest[seq] = recorded{number: num, issuer: e.Issuer}
	}
	return nil
}

// floor is the highest number recorded for seq, or nil.
func (n *CRLNumbers) floor(seq crlSeq) *big.Int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.highest[seq]; ok {
		return r.number
	}
	return nil
}

// raise records c's number when it is higher than the one recorded for its
// sequence. It is called once c's signature has verified.
func (n *CRLNumbers) raise(c *crl) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r, ok := n.highest[c.seq]
	higher := !ok || c.list.Number.Cmp(r.number) > 0
	if !higher && !n.dirty {
		return
	}
	if higher {
		n.highest[c.seq] = recorded{number: new(big.Int).Set(c.list.Number), issuer: c.list.Issuer.String()}
	}
	n.writeLocked()
}

// retry writes the file again if the last write failed.
func (n *CRLNumbers) retry() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dirty {
		n.writeLocked()
	}
}

func (n *CRLNumbers) writeLocked() {
	f := crlStateFile{Version: crlStateVersion, Issuers: make([]crlStateEntry, 0, len(n.highest))}
	for seq, r := range n.highest {
		f.Issuers = append(f.Issuers, crlStateEntry{
			Issuer:    r.issuer,
			IssuerDER: base64.StdEncoding.EncodeToString([]byte(seq.issuer)),
			KeyID:     hex.EncodeToString([]byte(seq.keyID)),
			CRLNumber: r.number.String(),
		})
	}
	slices.SortFunc(f.Issuers, func(a, b crlStateEntry) int {
		return cmp.Or(strings.Compare(a.Issuer, b.Issuer), strings.Compare(a.IssuerDER, b.IssuerDER), strings.Compare(a.KeyID, b.KeyID))
	})
	raw, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(n.path), 0o700)
	}
	if err == nil {
		err = certs.WriteFileAtomic(n.path, append(raw, '\n'), 0o600)
	}
	n.dirty = err != nil
	if err != nil && n.OnWriteError != nil {
		n.OnWriteError(fmt.Errorf("crl state file %s: %w", n.path, err))
	}
}
