package matcher

import "github.com/google/uuid"

// Mode is a way a provider offers its connection, numbered as the connect protocol's
// provide modes.
type Mode uint8

// Provide modes, as numbered on the wire.
const (
	ModeNetwork          Mode = 1
	ModeFriendsAndFamily Mode = 2
	ModePublic           Mode = 3
	ModeStream           Mode = 4
	ModePublicStream     Mode = 5
)

// ModeSet is a set of modes, one bit per Mode. The zero value is the empty set.
type ModeSet uint8

// validModes holds the bits of the modes this package knows.
const validModes ModeSet = 1<<ModeNetwork | 1<<ModeFriendsAndFamily | 1<<ModePublic |
	1<<ModeStream | 1<<ModePublicStream

// publicModes are the modes in which a provider is visible to every network. Providers
// are visible in the other modes only to their own network.
const publicModes ModeSet = 1<<ModePublic | 1<<ModePublicStream

// Modes returns the set of the given modes; values that are not a known Mode are
// ignored.
func Modes(ms ...Mode) ModeSet {
	var s ModeSet
	for _, m := range ms {
		if m < 8 {
			s |= 1 << m
		}
	}
	return s & validModes
}

// Has reports whether m is in s.
func (s ModeSet) Has(m Mode) bool {
	return m < 8 && s&(1<<m) != 0
}

// Filter says which providers a caller may use: those that offer one of Modes publicly
// (ModePublic, ModePublicStream), and those of the caller's own network that offer any
// of Modes. The zero Filter sees the public providers of ModePublic.
type Filter struct {
	// NetworkID is the caller's network; uuid.Nil for a caller without one.
	NetworkID uuid.UUID
	// Modes are the modes the caller can use; zero means ModePublic alone.
	Modes ModeSet
}

// modes returns the effective mode set of f.
func (f Filter) modes() ModeSet {
	if f.Modes&validModes == 0 {
		return Modes(ModePublic)
	}
	return f.Modes & validModes
}

// visible reports whether a provider of network net offering modes is visible under f.
func (f Filter) visible(net uuid.UUID, modes ModeSet) bool {
	m := f.modes()
	if modes&m&publicModes != 0 {
		return true
	}
	return modes&m != 0 && f.NetworkID != uuid.Nil && net == f.NetworkID
}
