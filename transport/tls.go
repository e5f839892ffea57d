package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Names of the generated certificate and key in the data directory.
const (
	generatedCertFile = "tls-cert.pem"
	generatedKeyFile  = "tls-key.pem"
)

// selfSignedValidity is how long a generated certificate is valid. Clients of a
// development setup pin it by fingerprint rather than trusting a chain, so a long life
// spares them a new pin.
const selfSignedValidity = 10 * 365 * 24 * time.Hour

// LoadOrCreateTLS returns a TLS configuration for the QUIC listener and the SHA-256
// fingerprint of its certificate, as lowercase hex of the DER bytes. With certFile and
// keyFile it loads that PEM pair. Without them it uses a self-signed ECDSA certificate
// kept in dataDir, generating it on first use (key file mode 0600) and reusing it after.
func LoadOrCreateTLS(certFile, keyFile, dataDir string) (*tls.Config, string, error) {
	switch {
	case certFile != "" && keyFile != "":
	case certFile != "" || keyFile != "":
		return nil, "", errors.New("tls: give both a certificate and a key file, or neither")
	case dataDir == "":
		return nil, "", errors.New("tls: no certificate files and no data directory")
	default:
		certFile = filepath.Join(dataDir, generatedCertFile)
		keyFile = filepath.Join(dataDir, generatedKeyFile)
		if err := ensureSelfSigned(certFile, keyFile); err != nil {
			return nil, "", err
		}
	}

	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, "", fmt.Errorf("tls: load key pair: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}
	return conf, hex.EncodeToString(sum[:]), nil
}

// ensureSelfSigned generates the certificate and key unless both exist.
func ensureSelfSigned(certFile, keyFile string) error {
	_, certErr := os.Stat(certFile)
	_, keyErr := os.Stat(keyFile)
	if certErr == nil && keyErr == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return fmt.Errorf("tls: create data dir: %w", err)
	}
	certPEM, keyPEM, err := selfSigned(time.Now())
	if err != nil {
		return err
	}
	// The key goes first: a certificate without its key would be taken as complete.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, certPEM, 0o644)
}

// selfSigned returns a new PEM certificate and key for localhost and the loopback
// addresses.
func selfSigned(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("tls: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "byplatform"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: marshal key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeFileAtomic writes data to a temporary file with the given mode and renames it
// over name, so a reader never sees half a file.
func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("tls: write %s: %w", name, err)
	}
	tmp := f.Name()
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("tls: write %s: %w", name, err)
	}
	return nil
}
