package transport

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/quic-go/quic-go"

	"github.com/byplatform/byplatform/control"
)

// benchWindow is how many frames each flow keeps in flight. It keeps the pipeline
// full while staying far below a send queue, so the relay never drops.
const benchWindow = 32

// echoRates holds the echo throughput of each configuration, in frames per second,
// for the relay run that follows it to compare against.
var echoRates sync.Map

// BenchmarkRelay measures frames relayed between client pairs against a plain echo
// server built on the same libraries, over the same number of connections. Each
// configuration runs echo first, then relay, and relay reports relay/echo, the ratio of
// their throughputs. Latency is from send to receipt under the same load.
func BenchmarkRelay(b *testing.B) {
	for _, transport := range []string{"ws", "quic"} {
		for _, size := range []int{100, 1024} {
			for _, pairs := range []int{1, 100} {
				name := fmt.Sprintf("%s/%dB/pairs=%d", transport, size, pairs)
				b.Run(name, func(b *testing.B) {
					benchConfig(b, name, transport, size, pairs)
				})
			}
		}
	}
}

func benchConfig(b *testing.B, name, transport string, size, pairs int) {
	e := newEnv(b, Options{})
	var echo *echoServer
	if transport == "ws" {
		echo = startWSEcho(b)
	} else {
		echo = startQUICEcho(b)
	}

	var relayFlows, echoFlows []flow
	for range pairs {
		tokA, a := e.auth.add()
		tokB, bb := e.auth.add()
		var ca, cb client
		if transport == "ws" {
			ca, cb = e.dialWS(tokA, uuid.New()), e.dialWS(tokB, uuid.New())
		} else {
			ca, cb = e.dialQUIC(tokA, uuid.New()), e.dialQUIC(tokB, uuid.New())
		}
		relayFlows = append(relayFlows,
			flow{ca, cb, sizedFrame(b, bb.ClientID, a.ClientID, size)},
			flow{cb, ca, sizedFrame(b, a.ClientID, bb.ClientID, size)})
		for range 2 {
			c := echo.dial(b)
			echoFlows = append(echoFlows, flow{c, c, sizedFrame(b, uuid.New(), uuid.New(), size)})
		}
	}

	// Throughput with the pipeline full, then latency with one frame in flight per
	// flow, where queueing does not dominate.
	b.Run("echo", func(b *testing.B) {
		r := runLoad(b, echoFlows, benchWindow)
		echoRates.Store(name, r.rate)
	})
	b.Run("relay", func(b *testing.B) {
		r := runLoad(b, relayFlows, benchWindow)
		if echoRate, ok := echoRates.Load(name); ok {
			b.ReportMetric(r.rate/echoRate.(float64), "relay/echo")
		}
	})
	b.Run("echo-latency", func(b *testing.B) { runLoad(b, echoFlows, 1) })
	b.Run("relay-latency", func(b *testing.B) { runLoad(b, relayFlows, 1) })
}

// sizedFrame returns a TransferFrame of exactly size bytes.
func sizedFrame(b testing.TB, dst, src uuid.UUID, size int) []byte {
	payload := make([]byte, size)
	for {
		f := transferFrame(b, dst, src, payload)
		if len(f) <= size {
			return append(f, make([]byte, size-len(f))...)[:size:size]
		}
		payload = payload[:len(payload)-(len(f)-size)]
	}
}

// flow sends frames from src that arrive at dst.
type flow struct {
	src, dst client
	frame    []byte
}

type loadResult struct {
	rate float64 // frames per second
}

// runLoad sends b.N frames spread over the flows, each flow with window frames in
// flight, and reports throughput and latency percentiles. Each frame carries its send
// time in its last 8 bytes, which relay and echo leave untouched.
func runLoad(b *testing.B, flows []flow, window int) loadResult {
	b.ReportAllocs()
	per := max(b.N/len(flows), 1)
	lat := make([][]time.Duration, len(flows))
	errs := make(chan error, 2*len(flows))
	var wg sync.WaitGroup

	b.ResetTimer()
	start := time.Now()
	for i, f := range flows {
		inFlight := make(chan struct{}, window)
		lat[i] = make([]time.Duration, 0, per)
		wg.Add(2)
		go func() {
			defer wg.Done()
			frame := slices.Clone(f.frame)
			for range per {
				inFlight <- struct{}{}
				binary.BigEndian.PutUint64(frame[len(frame)-8:], uint64(time.Now().UnixNano()))
				if err := f.src.send(frame); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range per {
				msg, err := recvData(f.dst, 10*time.Second)
				if err != nil {
					errs <- fmt.Errorf("receive: %w", err)
					return
				}
				sent := int64(binary.BigEndian.Uint64(msg[len(msg)-8:]))
				lat[i] = append(lat[i], time.Duration(time.Now().UnixNano()-sent))
				<-inFlight
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}

	all := slices.Concat(lat...)
	slices.Sort(all)
	rate := float64(len(all)) / elapsed.Seconds()
	b.ReportMetric(rate, "frames/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	return loadResult{rate: rate}
}

// echoServer is the baseline: each message comes straight back on its connection.
type echoServer struct {
	dial func(b *testing.B) client
}

func startWSEcho(b *testing.B) *echoServer {
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			mt, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if err := ws.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	}))
	b.Cleanup(hs.Close)
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	return &echoServer{dial: func(b *testing.B) client {
		ws, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ws.Close() })
		return &wsClient{ws: ws}
	}}
}

func startQUICEcho(b *testing.B) *echoServer {
	tlsConf, _, err := LoadOrCreateTLS("", "", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", tlsConf, &quic.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			qc, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer qc.CloseWithError(0, "")
				quicEcho(qc)
			}()
		}
	}()
	addr := ln.Addr().String()
	return &echoServer{dial: func(b *testing.B) client {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		qc, err := quic.DialAddr(ctx, addr, &tls.Config{InsecureSkipVerify: true}, &quic.Config{})
		if err != nil {
			b.Fatal(err)
		}
		st, err := qc.OpenStreamSync(ctx)
		if err != nil {
			b.Fatal(err)
		}
		c := &quicClient{qc: qc, st: st}
		b.Cleanup(c.close)
		return c
	}}
}

// quicEcho echoes framed messages on the connection's stream, one write per message.
func quicEcho(qc *quic.Conn) {
	st, err := qc.AcceptStream(context.Background())
	if err != nil {
		return
	}
	r := control.NewQUICReader(st, 0)
	w := control.NewQUICWriter(st, 0)
	for {
		msg, err := r.ReadMessage()
		if err != nil {
			return
		}
		if err := w.WriteMessage(msg); err != nil {
			return
		}
	}
}
