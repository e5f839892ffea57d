package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/byplatform/byplatform/engine"
	"github.com/byplatform/byplatform/notify"
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
	eng, done, err := toolEngine(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer done()
	b, err := eng.AddBalance(ctx, network, bytes,
		time.Duration(days*float64(24*time.Hour)))
	if err != nil {
		return fmt.Errorf("balance add: %w", err)
	}
	fmt.Fprintf(stdout, "balance %s: %d bytes for network %s until %s\n", b.ID, b.Bytes,
		network, b.EndTime.Format(time.RFC3339))
	return nil
}

// toolEngine opens the migrated store of c and an engine over it for commands that
// change data offline. They sign no tokens and send no messages, so the engine gets a
// throwaway key and a sender that refuses. done closes both.
func toolEngine(ctx context.Context, c config, stderr io.Writer) (eng *engine.Engine,
	done func(), err error) {
	log, err := c.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.openStore(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, nil, err
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	eng, err = engine.New(ctx, engine.Config{Store: st, Signer: token.NewSigner(key),
		Sender: discard{}, CodeKey: make([]byte, 32), Logger: log})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return eng, func() { eng.Close(); st.Close() }, nil
}

// discard is a sender for commands that never send messages.
type discard struct{}

func (discard) Send(context.Context, notify.Message) error {
	return errors.New("this command sends no messages")
}
