// Package load drives closed-loop HTTP load against a server and reports throughput and
// latency percentiles. It is the load generator of byplatform's benchmarks.
package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request builds the i-th request of a worker; body may be nil.
type Request func(worker, i int) (method, url string, body []byte)

// Result is what one run measured.
type Result struct {
	Name     string
	Requests int
	Errors   int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// RPS is completed requests per second.
func (r Result) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%-22s %9.0f req/s  p50 %8s  p99 %8s  errors %d", r.Name, r.RPS(),
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors)
}

// Run sends requests from workers concurrent connections, each waiting for its answer
// before the next, for d or until ctx is done. Non-200 answers count as errors.
func Run(ctx context.Context, name string, client *http.Client, workers int, d time.Duration,
	req Request) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	errors := 0
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			errs := 0
			for i := 0; ctx.Err() == nil; i++ {
				method, url, body := req(w, i)
				t0 := time.Now()
				if !do(ctx, client, method, url, body) {
					if ctx.Err() == nil {
						errs++
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res := Result{Name: name, Requests: len(all), Errors: errors, Elapsed: time.Since(start)}
	if len(all) > 0 {
		slices.Sort(all)
		res.P50 = all[len(all)/2]
		res.P99 = all[len(all)*99/100]
	}
	return res
}

func do(ctx context.Context, client *http.Client, method, url string, body []byte) bool {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "text/json")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Client returns an HTTP client that keeps one connection per worker alive.
func Client(workers int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = workers
	t.MaxConnsPerHost = workers
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}
