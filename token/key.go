package token

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxKeyFileSize bounds how much of a key file is read; a PEM Ed25519 key is about 120 bytes.
const maxKeyFileSize = 64 << 10

const pemPrivateKey = "PRIVATE KEY"

// LoadOrCreateKey returns a Signer for the Ed25519 private key stored at path as a PKCS #8
// PEM block. When no file exists it generates a key and writes it there, creating missing
// parent directories with mode 0700 and the file with mode 0600. The file appears
// atomically and is never overwritten: when two processes race to create it, both end up
// with the key of the one that wrote first.
func LoadOrCreateKey(path string) (*Signer, error) {
	priv, err := readKey(path)
	if err == nil {
		return NewSigner(priv), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}

	_, priv, err = ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der})
	err = writeNewFile(path, data)
	if errors.Is(err, fs.ErrExist) {
		// Another process created the key between our read and our write; use theirs.
		priv, err = readKey(path)
		if err != nil {
			return nil, err
		}
		return NewSigner(priv), nil
	}
	if err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	return NewSigner(priv), nil
}

// readKey reads and decodes the key file at path. A missing file yields an error that
// matches fs.ErrNotExist.
func readKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("read signing key %s: file larger than %d bytes",
			path, maxKeyFileSize)
	}
	return decodeKey(path, data)
}

func decodeKey(path string, data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemPrivateKey {
		return nil, fmt.Errorf("read signing key %s: no %q PEM block", path, pemPrivateKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read signing key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read signing key %s: %T is not an Ed25519 key", path, key)
	}
	return priv, nil
}

// writeNewFile writes data to a temporary file beside path and links it into place, so path
// either does not exist or holds all of data. It fails with fs.ErrExist if path exists.
func writeNewFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; Chmod makes that independent of its implementation.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// A hard link, unlike a rename, refuses to replace an existing file.
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable, so a key handed out before a crash is still
// the key found after it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
