package transport

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoadOrCreateTLSGeneratesOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	conf, fp, err := LoadOrCreateTLS("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fp) != 64 {
		t.Fatalf("fingerprint %q is not hex SHA-256", fp)
	}
	leaf := conf.Certificates[0].Certificate[0]
	if sum := sha256.Sum256(leaf); hex.EncodeToString(sum[:]) != fp {
		t.Fatal("fingerprint does not match the certificate")
	}
	cert, err := x509.ParseCertificate(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if cert.NotAfter.Before(time.Now().Add(365 * 24 * time.Hour)) {
		t.Fatalf("certificate expires %v", cert.NotAfter)
	}

	keyInfo, err := os.Stat(filepath.Join(dir, generatedKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if mode := keyInfo.Mode().Perm(); mode != 0o600 {
		t.Fatalf("key file mode %v, want 0600", mode)
	}

	_, again, err := LoadOrCreateTLS("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != fp {
		t.Fatal("a second call generated a new certificate")
	}
}

func TestLoadOrCreateTLSFromFiles(t *testing.T) {
	dir := t.TempDir()
	_, fp, err := LoadOrCreateTLS("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, generatedCertFile)
	keyFile := filepath.Join(dir, generatedKeyFile)

	// Given files win over the data directory, which stays untouched.
	other := t.TempDir()
	_, got, err := LoadOrCreateTLS(certFile, keyFile, other)
	if err != nil {
		t.Fatal(err)
	}
	if got != fp {
		t.Fatal("loaded a different certificate")
	}
	if entries, _ := os.ReadDir(other); len(entries) != 0 {
		t.Fatalf("data dir holds %d files, want none", len(entries))
	}

	for _, tc := range []struct{ name, cert, key, dir string }{
		{"only a certificate", certFile, "", other},
		{"only a key", "", keyFile, other},
		{"nothing at all", "", "", ""},
		{"missing files", filepath.Join(other, "x.pem"), filepath.Join(other, "y.pem"), ""},
		{"key in place of certificate", keyFile, keyFile, ""},
	} {
		if _, _, err := LoadOrCreateTLS(tc.cert, tc.key, tc.dir); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
