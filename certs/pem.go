package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PEM block types written and read by this package.
const (
	pemCertificate  = "CERTIFICATE"
	pemPrivateKey   = "PRIVATE KEY"
	pemECPrivateKey = "EC PRIVATE KEY"
	pemCRL          = "X509 CRL"
)

// WriteCertsPEM writes certs, in order, as one PEM file (mode 0644). For a
// leaf, pass its Chain so the file is ready to serve.
func WriteCertsPEM(path string, certs ...*x509.Certificate) error {
	if len(certs) == 0 {
		return fmt.Errorf("write %s: no certificates", path)
	}
	var buf bytes.Buffer
	for _, c := range certs {
		if err := pem.Encode(&buf, &pem.Block{Type: pemCertificate, Bytes: c.Raw}); err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
	}
	return WriteFileAtomic(path, buf.Bytes(), 0o644)
}

// WriteKeyPEM writes key as PKCS#8 "PRIVATE KEY" with mode 0600. The file is
// created 0600 from the start, so the key is never readable by others, not
// even for the moment before a chmod.
func WriteKeyPEM(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key for %s: %w", path, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der})
	return WriteFileAtomic(path, data, 0o600)
}

// WriteCRLPEM writes a DER CRL as an "X509 CRL" PEM file (mode 0644).
func WriteCRLPEM(path string, der []byte) error {
	if _, err := x509.ParseRevocationList(der); err != nil {
		return fmt.Errorf("write %s: not a CRL: %w", path, err)
	}
	return WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: pemCRL, Bytes: der}), 0o644)
}

// ReadCertsPEM returns every CERTIFICATE block in path, in file order (leaf
// first for a chain file), as ParseCertsPEM does.
func ReadCertsPEM(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

// ParseCertsPEM returns every CERTIFICATE block in data, in order. Other block
// types are skipped, as crypto/tls does; data without any certificate is an
// error rather than an empty trust set.
func ParseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// ReadKeyPEM reads the first private key in path. PKCS#8 is what this package
// writes; SEC1 "EC PRIVATE KEY" is accepted too because openssl and older
// tools produce it.
func ReadKeyPEM(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM private key block", path)
		}
		var key any
		switch block.Type {
		case pemPrivateKey:
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case pemECPrivateKey:
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: key of type %T cannot sign", path, key)
		}
		return signer, nil
	}
}

// WriteFileAtomic writes data to a temporary file in the target directory and
// renames it into place, so a reader (a CRL refresher, a reloading server)
// sees either the old file or the new one, never a half-written one. The
// temporary file must share the directory because rename is only atomic
// within one file system.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			// Cleanup after a failure already being reported: the file may be
			// closed already, and a leftover temporary is harmless.
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	// CreateTemp makes the file 0600; widen it only where asked, before any
	// byte is written.
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Persist the rename itself; best effort, as not every platform can sync
	// a directory.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
