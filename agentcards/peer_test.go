package agentcards_test

import (
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/agentcards"
	"github.com/parleyhq/parley/agentcards/agentcardstest"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// The test peers are real a2a-go agents on loopback (agentcardstest).
type peer = agentcardstest.Peer

var (
	newPeer = agentcardstest.NewPeer
	card03  = agentcardstest.Card03
	skill   = agentcardstest.Skill
)

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStore opens a fresh SQLite store for one test.
func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newRegistry is a registry on a fresh store that allows loopback (the
// test peers live there) and reads a settable clock.
func newRegistry(t *testing.T, mod ...func(*agentcards.Options)) (*agentcards.Registry, store.Store, *clock) {
	t.Helper()
	st := openStore(t)
	clk := newClock()
	opts := agentcards.Options{AllowPrivate: true, Now: clk.Now, FetchTimeout: 5 * time.Second}
	for _, m := range mod {
		m(&opts)
	}
	return agentcards.New(st, opts), st, clk
}
