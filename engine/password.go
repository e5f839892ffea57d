package engine

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id costs for new password hashes. Hashes record their
// own parameters, so raising these affects only passwords set afterwards.
type PasswordParams struct {
	Time    uint32 // passes over memory
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultPasswordParams take 48-58 ms per hash on the 2-core development machine under
// load (see BenchmarkHashPassword): slow enough to make offline guessing costly, fast
// enough for a sign-in.
var DefaultPasswordParams = PasswordParams{Time: 2, Memory: 32 * 1024, Threads: 2}

const (
	passwordSaltLen = 16
	passwordKeyLen  = 32
	minPasswordLen  = 8
	maxPasswordLen  = 1024
)

// HashPassword returns an encoded argon2id hash of password with a new random salt,
// in the PHC string form: $argon2id$v=19$m=...,t=...,p=...$salt$key.
func HashPassword(password string, p PasswordParams) (string, error) {
	salt := make([]byte, passwordSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, passwordKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory,
		p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches an encoded hash, comparing in
// constant time.
func CheckPassword(password, encoded string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var p PasswordParams
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads)
	if err != nil || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<21 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when a user is unknown, so that a login for an unknown
// user costs as much as one with a wrong password.
var dummyHash, _ = HashPassword("not a password of anyone", DefaultPasswordParams)

func checkPasswordLength(password string) error {
	if len(password) < minPasswordLen {
		return ErrPasswordShort
	}
	if len(password) > maxPasswordLen {
		return &UserError{Msg: "Password is too long."}
	}
	return nil
}
