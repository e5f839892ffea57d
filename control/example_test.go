package control_test

import (
	"context"

	"github.com/google/uuid"

	"github.com/byplatform/byplatform/control"
)

// A transport routes each inbound TransferFrame by its path and hands the frames
// addressed to the control id to the client's session.
func ExampleServer_Open() {
	srv := control.NewServer(newFakeEngine(), control.Options{})
	ctx := context.Background()
	client := uuid.New()

	// send queues a frame on one of the client's connections without blocking.
	queue := make(chan []byte, 64)
	send := func(b []byte) bool {
		select {
		case queue <- b:
			return true
		default:
			return false
		}
	}
	session := srv.Open(ctx, client, send)
	defer session.Close()

	onMessage := func(frame []byte) {
		p, err := control.ParsePath(frame)
		if err != nil || p.Source != client || p.Stream != uuid.Nil {
			return // dropped and counted by the transport
		}
		if p.Destination == control.ControlID {
			session.Receive(ctx, frame)
			return
		}
		// Otherwise forward the unchanged bytes to p.Destination.
	}
	onMessage(nil)
}
