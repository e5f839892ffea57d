package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// RSA keys outside these sizes, in bits, are skipped: smaller ones are too weak, larger ones
// would let a key set make every verification expensive.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// maxJWKSKeys bounds the number of keys kept from one key set. Providers publish two or
// three at a time.
const maxJWKSKeys = 64

// ssoKey is a public key from a JWKS together with the one algorithm it may verify.
type ssoKey struct {
	alg string // "RS256" or "ES256"
	pub any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// keySet is one fetched JWKS. It is never modified after parseJWKS returns it.
type keySet struct {
	keys    map[string]ssoKey
	fetched time.Time
}

type jwkJSON struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS decodes a JSON Web Key Set. Keys that cannot verify RS256 or ES256 signatures,
// or that are malformed, are skipped so that a provider adding a new kind of key does not
// break sign-in; a set with no usable key at all is an error.
func parseJWKS(data []byte) (map[string]ssoKey, error) {
	var set struct {
		Keys []jwkJSON `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decode key set: %w", err)
	}
	keys := make(map[string]ssoKey)
	for i := range set.Keys {
		k := &set.Keys[i]
		if k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if _, dup := keys[k.Kid]; dup {
			continue
		}
		key, err := k.decode()
		if err != nil {
			continue
		}
		keys[k.Kid] = key
		if len(keys) == maxJWKSKeys {
			break
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("key set holds no usable RS256 or ES256 key")
	}
	return keys, nil
}

func (k *jwkJSON) decode() (ssoKey, error) {
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != "RS256" {
			return ssoKey{}, fmt.Errorf("RSA key for %q", k.Alg)
		}
		pub, err := decodeRSA(k.N, k.E)
		return ssoKey{alg: "RS256", pub: pub}, err
	case "EC":
		if k.Alg != "" && k.Alg != "ES256" {
			return ssoKey{}, fmt.Errorf("EC key for %q", k.Alg)
		}
		if k.Crv != "P-256" {
			return ssoKey{}, fmt.Errorf("EC curve %q", k.Crv)
		}
		pub, err := decodeP256(k.X, k.Y)
		return ssoKey{alg: "ES256", pub: pub}, err
	}
	return ssoKey{}, fmt.Errorf("key type %q", k.Kty)
}

func decodeRSA(n64, e64 string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(n64)
	if err != nil {
		return nil, fmt.Errorf("RSA modulus: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(e64)
	if err != nil {
		return nil, fmt.Errorf("RSA exponent: %w", err)
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("RSA modulus of %d bits", bits)
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("RSA exponent out of range")
	}
	var e uint64
	for _, b := range eb {
		e = e<<8 | uint64(b)
	}
	if e < 3 || e%2 == 0 || e > 1<<31-1 {
		return nil, fmt.Errorf("RSA exponent %d", e)
	}
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

func decodeP256(x64, y64 string) (*ecdsa.PublicKey, error) {
	x, err := base64.RawURLEncoding.DecodeString(x64)
	if err != nil {
		return nil, fmt.Errorf("EC x: %w", err)
	}
	y, err := base64.RawURLEncoding.DecodeString(y64)
	if err != nil {
		return nil, fmt.Errorf("EC y: %w", err)
	}
	if len(x) != 32 || len(y) != 32 {
		return nil, errors.New("EC coordinates are not 32 bytes")
	}
	point := make([]byte, 0, 65)
	point = append(point, 4)
	point = append(point, x...)
	point = append(point, y...)
	// The parser rejects points off the curve, which would otherwise open invalid-curve
	// attacks.
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
}
