package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/byplatform/byplatform/store/storetest"
)

// BenchmarkNetworkClients measures an authenticated GET /network/clients of a network
// with 10 clients through the whole stack: a loopback HTTP connection (kept alive),
// routing, JWT verification, the session check and the client list in the database,
// and JSON encoding. Allocations count the client and the server side together.
func BenchmarkNetworkClients(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, storetest.Open(b, driver), envOptions{logLevel: slog.LevelError})
			jwt := e.signUp("bench@example.com", "bench password", "benchnetwork")
			for i := range 10 {
				e.newClient(jwt, fmt.Sprintf("client %d", i))
			}
			req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/network/clients", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+jwt)
			client := e.srv.Client()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || n < 2000 {
					b.Fatalf("status %d, %d bytes, %v", resp.StatusCode, n, err)
				}
			}
		})
	}
}
