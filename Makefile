# byplatform. `make run` serves on the embedded store; `make test` runs every test on
# both store drivers (a throwaway PostgreSQL is started unless BYP_TEST_PG_URL is set).

GO       ?= go
BIN      ?= bin/byplatform
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     := ./...

.PHONY: all build run test test-short vet fmt bench proto geoip clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/byplatform

run: build
	./$(BIN) serve

test:
	./scripts/with-postgres.sh $(GO) test -race -count=1 -timeout 12m $(PKGS)

test-short:
	./scripts/with-postgres.sh $(GO) test -short -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

bench:
	./scripts/with-postgres.sh $(GO) test -run '^$$' -bench . -benchmem $(PKGS)

proto:
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" $(GO) generate ./control/...

geoip:
	./scripts/fetch-geoip.sh data/geoip

clean:
	rm -rf bin
