//go:build unix

package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/audit"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

// txCounter counts the store transactions appends take.
type txCounter struct {
	store.Audit
	txs atomic.Int64
}

func (c *txCounter) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	c.txs.Add(1)
	return c.Audit.AppendAudit(ctx, r)
}

func (c *txCounter) AppendAuditBatch(ctx context.Context, rs []store.AuditRecord) ([]store.AuditRecord, error) {
	c.txs.Add(1)
	return c.Audit.AppendAuditBatch(ctx, rs)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendSQLite appends get_ticket-like records from 16
// goroutines to a SQLite file: each in its own transaction (single, the
// Log without Run), grouped and waited for (Append with Run), and grouped
// without waiting (Record with Run, as reads are). It reports the wall
// time per append (ns/op), this process's CPU time per append
// (cpu-ns/op) and store transactions per append (tx/op).
//
//	go test -run '^$' -bench AppendSQLite -benchtime 20000x ./audit/
func BenchmarkAppendSQLite(b *testing.B) {
	const appenders = 16
	for _, mode := range []string{"single", "grouped", "grouped-record"} {
		b.Run(fmt.Sprintf("%s/appenders=%d", mode, appenders), func(b *testing.B) {
			st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "parley.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			c := &txCounter{Audit: st}
			l := audit.New(c, audit.Options{})
			stop := func() {}
			if mode != "single" {
				ctx, cancel := context.WithCancel(b.Context())
				done := make(chan struct{})
				go func() { defer close(done); _ = l.Run(ctx) }()
				stop = func() { cancel(); <-done }
			}
			entry := audit.Entry{Action: audit.ActionMCPToolCall, Target: "get_ticket",
				Principal: audit.Principal{Subject: "alice", Client: "support-app"},
				Links:     audit.Links{TicketID: "T-1", RequestID: "0123456789abcdef"}}
			ctx := b.Context()
			var wg sync.WaitGroup
			var next atomic.Int64
			b.ResetTimer()
			cpu0 := cpuTime()
			for range appenders {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if mode == "grouped-record" {
							l.Record(ctx, entry)
							continue
						}
						if _, err := l.Append(ctx, entry); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := l.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			cpu := cpuTime() - cpu0
			b.StopTimer()
			stop()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(c.txs.Load())/float64(b.N), "tx/op")
			if res, err := l.Verify(ctx); err != nil || !res.OK || res.Records != int64(b.N) {
				b.Fatalf("Verify = %+v, %v; want OK with %d records", res, err, b.N)
			}
		})
	}
}
