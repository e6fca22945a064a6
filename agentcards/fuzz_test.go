package agentcards_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/parleyhq/parley/agentcards"
)

// FuzzValidateCard: the validator never panics, refuses with a *CardError,
// and what it accepts is self-consistent: the compacted document parses
// to the same card and hash, there is an endpoint and a skill, and the
// card compares equal to itself.
func FuzzValidateCard(f *testing.F) {
	f.Add([]byte(card10))
	f.Add([]byte(mod03(func(map[string]any) {})))
	f.Add([]byte(mod03(func(c map[string]any) {
		c["additionalInterfaces"] = []any{map[string]any{"url": "h.example:1", "transport": "GRPC"}}
		c["securitySchemes"] = map[string]any{"k": map[string]any{"type": "apiKey", "in": "header", "name": "X"}}
	})))
	f.Add([]byte(`{"name":"x","version":"1","capabilities":{},"skills":[{"id":"a","name":"A"}],"supportedInterfaces":[{"url":"grpc://x:1","protocolBinding":"GRPC","protocolVersion":"1.0"}]}`))
	f.Add([]byte(`{"name":"\u0000"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"skills":null,"url":1e400}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := agentcards.ParseCard(doc)
		if err != nil {
			var ce *agentcards.CardError
			if !errors.As(err, &ce) || !errors.Is(err, agentcards.ErrInvalidCard) {
				t.Fatalf("ParseCard error %v (%T) is not a *CardError", err, err)
			}
			return
		}
		if !json.Valid(c.Raw) {
			t.Fatalf("Raw is not JSON: %q", c.Raw)
		}
		again, err := agentcards.ParseCard(c.Raw)
		if err != nil {
			t.Fatalf("the compacted card does not parse: %v", err)
		}
		if again.Hash != c.Hash || again.Endpoint != c.Endpoint || len(again.Skills) != len(c.Skills) {
			t.Fatalf("re-parse differs: %+v vs %+v", again, c)
		}
		if c.Endpoint == "" || c.Name == "" || len(c.Skills) == 0 || len(c.Interfaces) == 0 {
			t.Fatalf("accepted card lacks essentials: %+v", c)
		}
		if d := agentcards.Compare(c, again); d.Pinned || d.Summary != "" {
			t.Fatalf("a card differs from itself: %+v", d)
		}
	})
}
