package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/byplatform/byplatform/store"
	"github.com/byplatform/byplatform/store/storetest"
)

func TestNetworkNames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		e.signUp("names@example.com", "names password", "alphanetwork")

		cases := []struct {
			name      string
			available bool
			why       string
		}{
			{"alphanetwork", false, "exists"},
			{"ALPHANETWORK", false, "exists in another case"},
			{" alphanetwork ", false, "exists once trimmed"},
			{"alphanetwrk", false, "one deletion away"},
			{"alphanetworks", false, "one insertion away"},
			{"alphanetw0rx", false, "two substitutions away"},
			{"xyphanetwork", false, "two substitutions away"},
			{"xyzhanetwork", true, "three substitutions away"},
			{"alphanetworkxyz", true, "three insertions away"},
			{"betanetwork1", true, "far away"},
			{"BetaNetwork1", true, "far away once lower-cased"},
			{"seven77", false, "7 characters"},
			{"eight888", true, "8 characters"},
			{"", false, "empty"},
			{"my-network", false, "a dash"},
			{"my_network", false, "an underscore"},
			{"my.network", false, "a dot"},
			{"my network", false, "a space"},
			{"netzwërk12", false, "a letter outside a-z"},
			{strings.Repeat("a", 63), true, "63 characters"},
			{strings.Repeat("b", 64), false, "64 characters"},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%q with %s", c.name, c.why), func(t *testing.T) {
				res := e.call("/auth/network-check", "", map[string]string{"network_name": c.name})
				if res.Available == nil || *res.Available != c.available {
					t.Fatalf("network-check = %s, want available %v",
						fmtAvailable(res.Available), c.available)
				}
			})
		}

		t.Run("network-create enforces the same rules", func(t *testing.T) {
			create := func(name string) result {
				return e.call("/auth/network-create", "", map[string]any{
					"user_auth": "creator@example.com", "password": "creator password",
					"network_name": name, "terms": true})
			}
			create("alphanetwrk").wantError(t, msgNameTaken)
			create("ALPHANETWORK").wantError(t, msgNameTaken)
			create("short").wantError(t, msgNameTooShort)
			create("").wantError(t, msgNameTooShort)
			create("has-a-dash").wantError(t, msgNameInvalid)
			create(strings.Repeat("c", 64)).wantError(t, msgNameInvalid)
			e.call("/auth/network-create", "", map[string]any{
				"user_auth": "creator@example.com", "password": "creator password",
				"network_name": "termsnetwork"}).wantError(t, msgTermsRequired)
			res := create(" GammaNetwork7 ").wantOK(t)
			if res.Network == nil || res.Network.NetworkName != "gammanetwork7" ||
				res.Network.NetworkID == "" {
				t.Fatalf("network-create = %+v", res)
			}
			n, err := st.NetworkByName(context.Background(), "gammanetwork7")
			if err != nil || n.ID.String() != res.Network.NetworkID {
				t.Fatalf("stored network %+v, %v", n, err)
			}
		})
	})
}

func fmtAvailable(b *bool) string {
	if b == nil {
		return "no available field"
	}
	return fmt.Sprint(*b)
}

// TestNetworkCreateConcurrentNames sends many near-identical names at once: each is
// within two edits of every other, so exactly one may be created.
func TestNetworkCreateConcurrentNames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOptions{})
		const n = 24
		results := make([]result, n)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range n {
			wg.Go(func() {
				start.Wait()
				results[i] = e.call("/auth/network-create", "", map[string]any{
					"user_auth":    fmt.Sprintf("racer%d@example.com", i),
					"password":     "racer password",
					"network_name": fmt.Sprintf("racenetwork%02d", i), "terms": true})
			})
		}
		start.Done()
		wg.Wait()

		var won []string
		for i, res := range results {
			switch {
			case res.Error == nil:
				won = append(won, res.Network.NetworkName)
			case res.Error.Message != msgNameTaken:
				t.Errorf("racer %d: error %q, want %q", i, res.Error.Message, msgNameTaken)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d creates succeeded (%v), want exactly 1", len(won), won)
		}
		var stored []string
		err := st.NetworkNames(context.Background(), func(name string) {
			if strings.HasPrefix(name, "racenetwork") {
				stored = append(stored, name)
			}
		})
		if err != nil || len(stored) != 1 || stored[0] != won[0] {
			t.Fatalf("stored race names %v (%v), want [%s]", stored, err, won[0])
		}
		// The losers' reservations are gone and the winner's holds.
		for i := range n {
			res := e.call("/auth/network-check", "", map[string]string{
				"network_name": fmt.Sprintf("racenetwork%02d", i)})
			if *res.Available {
				t.Fatalf("racenetwork%02d is available beside %s", i, won[0])
			}
		}
		res := e.call("/auth/network-check", "", map[string]string{"network_name": "finishline"})
		if !*res.Available {
			t.Fatal("an unrelated name is not available after the race")
		}
	})
}
