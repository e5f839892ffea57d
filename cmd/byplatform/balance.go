package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/byplatform/byplatform/engine"
	"github.com/byplatform/byplatform/notify"
	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/token"
)

// runBalance is `byplatform balance add`: it gives a network a transfer balance, the
// stand-in for purchases and subscriptions.
func runBalance(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("balance: usage: byplatform balance add --network NAME --bytes N " +
			"--days D")
	}
	var c config
	var network string
	var bytes int64
	var days float64
	fs := newFlagSet("balance add", "Give a network a transfer balance", stdout)
	c.databaseFlags(fs)
	fs.StringVar(&network, "network", "", "network name")
	fs.Int64Var(&bytes, "bytes", 0, "balance in bytes")
	fs.Float64Var(&days, "days", 30, "days the balance stays valid")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	eng, err := toolEngine(ctx, st, log)
	if err != nil {
		return err
	}
	defer eng.Close()
	b, err := eng.AddBalance(ctx, network, bytes,
		time.Duration(days*float64(24*time.Hour)))
	if err != nil {
		return fmt.Errorf("balance add: %w", err)
	}
	fmt.Fprintf(stdout, "balance %s: %d bytes for network %s until %s\n", b.ID, b.Bytes,
		network, b.EndTime.Format(time.RFC3339))
	return nil
}

// toolEngine is an engine for commands that change data offline. They sign no tokens
// and send no messages, so it gets a throwaway key and a sender that refuses.
func toolEngine(ctx context.Context, st *store.Store, log *slog.Logger) (*engine.Engine,
	error) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	return engine.New(ctx, engine.Config{Store: st, Signer: token.NewSigner(key),
		Sender: discard{}, CodeKey: make([]byte, 32), Logger: log})
}

// discard is a sender for commands that never send messages.
type discard struct{}

func (discard) Send(context.Context, notify.Message) error {
	return errors.New("this command sends no messages")
}
