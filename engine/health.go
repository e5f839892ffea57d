package engine

import (
	"context"

	"github.com/google/uuid"
)

// providerChanged is called when a client's provide keys change. Provider health and
// the matcher's pool hang off it.
func (e *Engine) providerChanged(ctx context.Context, clientID uuid.UUID) {}
