package identity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// maxVerdicts bounds the chains one Trust remembers. Only accepted chains
// are remembered, each the result of a handshake under a configured anchor;
// past the bound, chains are verified in full every time.
const maxVerdicts = 4096

// verdict is an accepted chain's answer and the period it holds for: inside
// every certificate's validity and every relied-on CRL's currency.
type verdict struct {
	id          string
	from, until time.Time
}

// narrow shrinks v to [notBefore, notAfter]; a zero time leaves that end.
func (v *verdict) narrow(notBefore, notAfter time.Time) {
	if !notBefore.IsZero() && notBefore.After(v.from) {
		v.from = notBefore
	}
	if !notAfter.IsZero() && (v.until.IsZero() || notAfter.Before(v.until)) {
		v.until = notAfter
	}
}

// holds mirrors the checks it stands for: x509 refuses now before notBefore
// or after notAfter, a CRL is stale after nextUpdate plus grace.
func (v verdict) holds(now time.Time) bool {
	return !now.Before(v.from) && !now.After(v.until)
}

type verdicts struct {
	m sync.Map // chainKey -> verdict
	n atomic.Int64
}

func (vs *verdicts) get(key [sha256.Size]byte, now time.Time) (string, bool) {
	v, ok := vs.m.Load(key)
	if !ok || !v.(verdict).holds(now) {
		return "", false
	}
	return v.(verdict).id, true
}

func (vs *verdicts) put(key [sha256.Size]byte, v verdict) {
	if vs.n.Load() >= maxVerdicts {
		return
	}
	if _, loaded := vs.m.LoadOrStore(key, v); !loaded {
		vs.n.Add(1)
	}
}

// chainKey names a presented chain by every certificate in it, in order.
func chainKey(peer []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range peer {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(c.Raw))))
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	copy(k[:], h.Sum(nil))
	return k
}
