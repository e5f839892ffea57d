package transport

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/byplatform/byplatform/control"
	"github.com/byplatform/byplatform/engine"
)

// Environment of the idle-connection dialer, a child process of the benchmark: with
// both ends in one process the file descriptor limit would halve the connections, and
// the server's memory could not be told from the clients'.
const (
	envDialURL    = "BYP_TRANSPORT_DIAL_URL"
	envDialTokens = "BYP_TRANSPORT_DIAL_TOKENS"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envDialURL); url != "" {
		if err := holdConnections(url, os.Getenv(envDialTokens)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holdConnections connects once per token in the file, authenticating in-band, prints
// "ready" and holds the connections until its standard input closes.
func holdConnections(url, tokenFile string) error {
	data, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	tokens := strings.Fields(string(data))
	conns := make([]*websocket.Conn, len(tokens))
	errs := make(chan error, len(tokens))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ws, err := dialAuthenticated(url, tokens[i])
				if err != nil {
					errs <- err
					return
				}
				conns[i] = ws
			}
		}()
	}
	for i := range tokens {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	for _, ws := range conns {
		ws.Close()
	}
	return nil
}

func dialAuthenticated(url, token string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	frame, err := control.MarshalAuthFrame(control.Auth{JWT: token, InstanceID: uuid.New()})
	if err != nil {
		return nil, err
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		return nil, err
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.ReadMessage(); err != nil {
		return nil, fmt.Errorf("auth echo: %w", err)
	}
	return ws, nil
}

type nopObserver struct{}

func (nopObserver) Connected(engine.ClientAuth, engine.Connection)    {}
func (nopObserver) Disconnected(engine.ClientAuth, engine.Connection) {}

// BenchmarkIdleWebSocketMemory measures the server's heap and goroutine stacks per idle
// authenticated WebSocket connection, with 10,000 connections held by a child process.
// It does its work once whatever b.N is; run it with -benchtime=1x.
func BenchmarkIdleWebSocketMemory(b *testing.B) {
	const conns = 10000
	e := newEnv(b, Options{ReadTimeout: time.Hour, Observer: nopObserver{}})
	var tokens strings.Builder
	for range conns {
		tok, _ := e.auth.add()
		tokens.WriteString(tok + "\n")
	}
	tokenFile := filepath.Join(b.TempDir(), "tokens")
	if err := os.WriteFile(tokenFile, []byte(tokens.String()), 0o600); err != nil {
		b.Fatal(err)
	}

	before := serverMemory()
	goroutinesBefore := runtime.NumGoroutine()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envDialURL+"="+e.wsURL, envDialTokens+"="+tokenFile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		b.Fatalf("dialer: %q, %v", line, err)
	}
	deadline := time.Now().Add(time.Minute)
	for e.counter("connections_open", "ws") < conns {
		if time.Now().After(deadline) {
			b.Fatalf("%v connections open", e.counter("connections_open", "ws"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	after := serverMemory()
	goroutines := runtime.NumGoroutine() - goroutinesBefore
	b.ReportMetric(float64(after.heap-before.heap)/conns, "heap-B/conn")
	b.ReportMetric(float64(after.stack-before.stack)/conns, "stack-B/conn")
	b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/conns, "B/conn")
	b.ReportMetric(float64(goroutines)/conns, "goroutines/conn")
}

type memory struct{ heap, stack uint64 }

// serverMemory returns live heap and stack bytes after a full collection.
func serverMemory() memory {
	for range 4 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapAlloc, stack: ms.StackInuse}
}
