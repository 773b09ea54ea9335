package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CSRF mints and checks the tokens of the console's one state-changing
// form. The console has no sessions: a token is bound to whatever the
// server passes as binding (the member and its certificate), so a page
// elsewhere that gets an officer's browser to post cannot supply one, and a
// token seen by one officer is useless with another certificate.
type CSRF struct {
	key [32]byte
	ttl time.Duration
	now func() time.Time
}

// CSRFTokenTTL is how long a verify form stays usable after it was shown.
const CSRFTokenTTL = 12 * time.Hour

// Errors of Check.
var (
	ErrCSRFMissing = errors.New("csrf token missing")
	ErrCSRFInvalid = errors.New("csrf token invalid")
	ErrCSRFExpired = errors.New("csrf token expired")
)

// NewCSRF uses key (at least 32 bytes) or, when key is empty, a random one.
func NewCSRF(key []byte) (*CSRF, error) {
	c := &CSRF{ttl: CSRFTokenTTL, now: time.Now}
	switch {
	case len(key) == 0:
		if _, err := rand.Read(c.key[:]); err != nil {
			return nil, fmt.Errorf("console: csrf key: %w", err)
		}
	case len(key) < 32:
		return nil, errors.New("console: csrf key must be at least 32 bytes")
	default:
		c.key = sha256.Sum256(key)
	}
	return c, nil
}

// Token returns a token for binding, valid for CSRFTokenTTL.
func (c *CSRF) Token(binding string) string {
	issued := strconv.FormatInt(c.now().Unix(), 10)
	return issued + "." + c.mac(binding, issued)
}

// Check accepts a token minted by Token for the same binding and not expired.
func (c *CSRF) Check(binding, token string) error {
	if token == "" {
		return ErrCSRFMissing
	}
	issued, mac, ok := strings.Cut(token, ".")
	if !ok || len(issued) > 20 || len(mac) > 64 {
		return ErrCSRFInvalid
	}
	at, err := strconv.ParseInt(issued, 10, 64)
	if err != nil {
		return ErrCSRFInvalid
	}
	if !hmac.Equal([]byte(mac), []byte(c.mac(binding, issued))) {
		return ErrCSRFInvalid
	}
	age := c.now().Sub(time.Unix(at, 0))
	if age > c.ttl || age < -time.Minute {
		return ErrCSRFExpired
	}
	return nil
}

func (c *CSRF) mac(binding, issued string) string {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte("ura-console-csrf\x00"))
	h.Write([]byte(binding))
	h.Write([]byte{0})
	h.Write([]byte(issued))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
