package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// Bench runs the store benchmarks: save ticket, get ticket, claim task, and
// the delay before another instance sees a change.
func Bench(b *testing.B, newDB NewDB) {
	b.Run("SaveTicket", func(b *testing.B) {
		s := openOne(b, newDB)
		ctx := b.Context()
		if _, err := s.CreateTicket(ctx, ticket("T-1", "new", "billing", t0), hist("bench", "create")); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.UpdateTicket(ctx, ticket("T-1", "new", "billing", t0), int64(i+1), hist("bench", "update")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetTicket", func(b *testing.B) {
		s := openOne(b, newDB)
		ctx := b.Context()
		for i := range 100 {
			if _, err := s.CreateTicket(ctx, ticket(fmt.Sprintf("T-%d", i), "new", "billing", t0), hist("bench", "create")); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.GetTicket(ctx, fmt.Sprintf("T-%d", i%100)); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	b.Run("ClaimTask", func(b *testing.B) {
		s := openOne(b, newDB)
		ctx := b.Context()
		for i := range b.N {
			if _, err := s.CreateTask(ctx, newTask(fmt.Sprintf("task-%d", i), "work", t0)); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.ClaimTask(ctx, store.Claim{Types: []string{"work"}, Claimant: "bench", LeaseToken: fmt.Sprint(i), Now: t0, LeaseUntil: t0.Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FeedAcrossInstances", func(b *testing.B) {
		open := newDB(b, Options{})
		writer, reader := open(b), open(b)
		run(b, writer)
		run(b, reader)
		ctx := b.Context()
		ch, err := reader.Subscribe(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := writer.CreateTicket(ctx, ticket("T-1", "new", "", t0), hist("bench", "create")); err != nil {
			b.Fatal(err)
		}
		<-ch
		b.ResetTimer()
		for i := range b.N {
			if _, err := writer.UpdateTicket(ctx, ticket("T-1", "new", "", t0), int64(i+1), hist("bench", "update")); err != nil {
				b.Fatal(err)
			}
			<-ch
		}
	})
}
