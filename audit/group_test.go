package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/parleyhq/parley/store"
)

// gate holds the store's batches until opened, so that a test can queue
// records behind a batch in flight.
type gate struct {
	held   chan struct{} // receives each held batch's size
	open   chan struct{}
	closed atomic.Bool
}

func newGate() *gate { return &gate{held: make(chan struct{}, 1000), open: make(chan struct{})} }

func (g *gate) hook(ctx context.Context, rs []store.AuditRecord) error {
	if g.closed.Load() {
		return nil
	}
	g.held <- struct{}{}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) release() {
	g.closed.Store(true)
	close(g.open)
}

// runLog starts l.Run and returns a function that stops it and returns
// its error.
func runLog(t *testing.T, l *Log) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()
	synctest.Wait() // Run is waiting for work
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-errc
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func (m *memStore) batchSizes() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.batches)
}

// While a batch commits, the appends that arrive queue, and the next
// transaction commits them all: 16 concurrent appends take 2 transactions,
// not 16, each caller gets its own record back once it is committed, and
// the chain verifies.
func TestGroupCommitBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &memStore{}
		g := newGate()
		m.batchHook = g.hook
		l := New(m, Options{Now: func() time.Time { return t0 }})
		runLog(t, l)

		const callers = 16
		got := make([]Record, callers)
		returned := make([]atomic.Bool, callers)
		var wg sync.WaitGroup
		appendAs := func(i int) {
			wg.Go(func() {
				r, err := l.Append(t.Context(), Entry{Action: "x.y", Target: fmt.Sprint(i)})
				if err != nil {
					t.Errorf("Append %d: %v", i, err)
				}
				got[i] = r
				returned[i].Store(true)
			})
		}
		appendAs(0)
		<-g.held // the first append's batch is in flight
		for i := 1; i < callers; i++ {
			appendAs(i)
		}
		synctest.Wait()
		for i := range callers {
			if returned[i].Load() {
				t.Errorf("Append %d returned before its record was committed", i)
			}
		}
		g.release()
		wg.Wait()

		if sizes := m.batchSizes(); !slices.Equal(sizes, []int{1, callers - 1}) {
			t.Errorf("batches = %v, want [1 %d]", sizes, callers-1)
		}
		seen := map[int64]bool{}
		for i, r := range got {
			if r.Target != fmt.Sprint(i) || r.Seq < 1 || r.Seq > callers || seen[r.Seq] {
				t.Errorf("Append %d returned %+v", i, r)
			}
			seen[r.Seq] = true
			if stored := m.recs[r.Seq-1]; stored.Hash != r.Hash || stored.Target != r.Target {
				t.Errorf("Append %d returned %+v, stored %+v", i, r, stored)
			}
		}
		if got[0].Seq != 1 {
			t.Errorf("the first append got seq %d", got[0].Seq)
		}
		if res, err := l.Verify(t.Context()); err != nil || !res.OK || res.Records != callers {
			t.Errorf("Verify = %+v, %v", res, err)
		}
	})
}

// Records queued by one caller keep their order in the chain, and Record
// returns without waiting for the commit; Flush (and List) waits.
func TestRecordQueuesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &memStore{}
		g := newGate()
		m.batchHook = g.hook
		l := New(m, Options{})
		runLog(t, l)

		l.Record(t.Context(), Entry{Action: "x.y", Target: "0"})
		<-g.held
		const n = 300 // more than one batch
		for i := 1; i < n; i++ {
			l.Record(t.Context(), Entry{Action: "x.y", Target: fmt.Sprint(i)})
		}
		// Every Record returned while the first batch is held.
		flushed := make(chan error, 1)
		go func() { flushed <- l.Flush(t.Context()) }()
		synctest.Wait()
		select {
		case err := <-flushed:
			t.Fatalf("Flush returned %v before the records were committed", err)
		default:
		}
		g.release()
		if err := <-flushed; err != nil {
			t.Fatal(err)
		}
		recs, _, err := l.List(t.Context(), Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n {
			t.Fatalf("%d records, want %d", len(recs), n)
		}
		for i, r := range recs {
			if r.Target != fmt.Sprint(i) || r.Seq != int64(i+1) {
				t.Errorf("record %d = seq %d target %s", i, r.Seq, r.Target)
			}
		}
		if sizes := m.batchSizes(); !slices.Equal(sizes, []int{1, maxBatch, n - 1 - maxBatch}) {
			t.Errorf("batches = %v, want [1 %d %d]", sizes, maxBatch, n-1-maxBatch)
		}
		if res, err := l.Verify(t.Context()); err != nil || !res.OK {
			t.Errorf("Verify = %+v, %v", res, err)
		}
	})
}

// A failed batch fails every append in it: each waiting caller gets the
// error, each record queued by Record is logged; nothing takes a place in
// the chain, and the next batch links onto the head as it was.
func TestBatchErrorReachesEveryCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		var logMu sync.Mutex
		m := &memStore{}
		l := New(m, Options{Logger: slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))})
		if _, err := m.AppendAuditBatch(t.Context(), []store.AuditRecord{{Action: "x.before"}}); err != nil {
			t.Fatal(err)
		}
		g := newGate()
		boom := errors.New("disk full")
		var failed atomic.Bool
		m.batchHook = func(ctx context.Context, rs []store.AuditRecord) error {
			if err := g.hook(ctx, rs); err != nil {
				return err
			}
			if rs[0].Target == "fail" && failed.CompareAndSwap(false, true) {
				return boom
			}
			return nil
		}
		runLog(t, l)

		l.Record(t.Context(), Entry{Action: "x.y", Target: "first"})
		<-g.held
		var wg sync.WaitGroup
		errs := make([]error, 5)
		l.Record(t.Context(), Entry{Action: "x.y", Target: "fail"}) // leads the failing batch
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = l.Append(t.Context(), Entry{Action: "x.y", Target: fmt.Sprint("waiter-", i)})
			})
		}
		l.Record(t.Context(), Entry{Action: "x.y", Target: "lost-read"})
		synctest.Wait()
		g.release()
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, boom) {
				t.Errorf("Append %d = %v, want the batch's error", i, err)
			}
		}
		after, err := l.Append(t.Context(), Entry{Action: "x.y", Target: "after"})
		if err != nil || after.Seq != 3 {
			t.Errorf("Append after the failure = %+v, %v; want seq 3", after, err)
		}
		if res, err := l.Verify(t.Context()); err != nil || !res.OK || res.Records != 3 {
			t.Errorf("Verify = %+v, %v", res, err)
		}
		logMu.Lock()
		defer logMu.Unlock()
		for _, target := range []string{"fail", "waiter-0", "waiter-4", "lost-read"} {
			if !strings.Contains(logs.String(), "target="+target+" ") {
				t.Errorf("the failure of %s is not logged:\n%s", target, logs.String())
			}
		}
		if strings.Contains(logs.String(), "target=first ") {
			t.Errorf("a committed record is logged as failed:\n%s", logs.String())
		}
	})
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (lw lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

// A batch that does not commit within Options.Timeout fails its waiting
// callers with the deadline, even though Run goes on.
func TestBatchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &memStore{}
		m.batchHook = func(ctx context.Context, _ []store.AuditRecord) error {
			<-ctx.Done()
			return ctx.Err()
		}
		l := New(m, Options{Timeout: 2 * time.Second})
		runLog(t, l)
		start := time.Now()
		if _, err := l.Append(t.Context(), Entry{Action: "x.y"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Append to a stuck store = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("Append gave up after %v, want the 2s timeout", waited)
		}
	})
}

// Stopping Run commits what is queued before Run returns; appends after
// that are committed one at a time, and a second Run is refused while
// one runs.
func TestRunDrainsOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &memStore{}
		g := newGate()
		m.batchHook = g.hook
		l := New(m, Options{})
		stop := runLog(t, l)
		if err := l.Run(t.Context()); err == nil {
			t.Error("a second Run while one runs succeeded")
		}

		l.Record(t.Context(), Entry{Action: "x.y", Target: "0"})
		<-g.held
		for i := 1; i < 10; i++ {
			l.Record(t.Context(), Entry{Action: "x.y", Target: fmt.Sprint(i)})
		}
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		synctest.Wait()
		select {
		case err := <-stopped:
			t.Fatalf("Run returned %v with records queued", err)
		default:
		}
		g.release()
		if err := <-stopped; err != nil {
			t.Errorf("Run = %v, want nil after a stop", err)
		}
		m.mu.Lock()
		n := len(m.recs)
		m.mu.Unlock()
		if n != 10 {
			t.Errorf("%d records committed by the time Run returned, want 10", n)
		}

		// Without Run, an append is its own transaction.
		if r, err := l.Append(t.Context(), Entry{Action: "x.y", Target: "late"}); err != nil || r.Seq != 11 {
			t.Errorf("Append after Run = %+v, %v", r, err)
		}
		l.Record(t.Context(), Entry{Action: "x.y", Target: "late-read"})
		if sizes := m.batchSizes(); !slices.Equal(sizes, []int{1, 9}) {
			t.Errorf("batches = %v, want [1 9] and the late appends alone", sizes)
		}
		if res, err := l.Verify(t.Context()); err != nil || !res.OK || res.Records != 12 {
			t.Errorf("Verify = %+v, %v", res, err)
		}
	})
}

// When the appender is far behind, Record waits for its commit, so that
// the queue stays bounded.
func TestRecordWaitsWhenTheQueueIsFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &memStore{}
		g := newGate()
		m.batchHook = g.hook
		l := New(m, Options{})
		runLog(t, l)
		l.Record(t.Context(), Entry{Action: "x.y"})
		<-g.held
		for range maxQueued {
			l.Record(t.Context(), Entry{Action: "x.y"})
		}
		var returned atomic.Bool
		go func() {
			l.Record(t.Context(), Entry{Action: "x.y", Target: "over"})
			returned.Store(true)
		}()
		synctest.Wait()
		if returned.Load() {
			t.Error("Record returned with the queue full")
		}
		g.release()
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !returned.Load() {
			t.Error("Record did not return after its commit")
		}
	})
}

func TestNilLogGroup(t *testing.T) {
	var l *Log
	l.Record(t.Context(), Entry{Action: "x.y"})
	if err := l.Run(t.Context()); err != nil {
		t.Errorf("nil Log Run = %v", err)
	}
	if err := l.Flush(t.Context()); err != nil {
		t.Errorf("nil Log Flush = %v", err)
	}
}

// The HTTP middleware commits a write's record before it returns (so
// before an unflushed answer reaches the client) and queues a read's.
func TestMiddlewareWaitsForWrites(t *testing.T) {
	for _, tt := range []struct {
		name     string
		read     bool
		waitsFor bool
	}{
		{"write", false, true},
		{"read", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := &memStore{}
				g := newGate()
				m.batchHook = g.hook
				l := New(m, Options{})
				runLog(t, l)
				h := Middleware(l, func(*http.Request, string) (Entry, bool) {
					return Entry{Action: "a2a.call", Target: "parley", Read: tt.read}, true
				})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
				var returned atomic.Bool
				go func() {
					h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
					returned.Store(true)
				}()
				<-g.held
				synctest.Wait()
				if returned.Load() == tt.waitsFor {
					t.Errorf("the middleware returned before the record's commit: %v, want %v", returned.Load(), !tt.waitsFor)
				}
				g.release()
				if err := l.Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if !returned.Load() {
					t.Error("the middleware did not return")
				}
			})
		})
	}
}

// TestReadsGatherForTheWindow: records of reads wait up to the read window
// to share a commit; a write's record, arriving meanwhile, takes them with
// it at once.
func TestReadsGatherForTheWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &memStore{}
		// No write window: a write right after a commit goes at once too
		// (TestWritesGatherWhileBusy).
		l := New(m, Options{ReadWindow: 50 * time.Millisecond, WriteWindow: -1})
		runLog(t, l)

		start := time.Now()
		for i := range 3 {
			l.Record(t.Context(), Entry{Action: "x.read", Target: fmt.Sprint(i)})
		}
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		if sizes := m.batchSizes(); len(sizes) != 0 {
			t.Fatalf("batches %v committed before the window ended", sizes)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if sizes := m.batchSizes(); !slices.Equal(sizes, []int{3}) {
			t.Fatalf("batches = %v after the window, want [3]", sizes)
		}

		// A read, then a write: the write does not wait out the window,
		// and the read goes in its batch.
		l.Record(t.Context(), Entry{Action: "x.read", Target: "3"})
		if _, err := l.Append(t.Context(), Entry{Action: "x.write", Target: "4"}); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 50*time.Millisecond {
			t.Errorf("the write's record was committed after %v, want at once (50ms, the first window)", waited)
		}
		if sizes := m.batchSizes(); !slices.Equal(sizes, []int{3, 2}) {
			t.Errorf("batches = %v, want [3 2]", sizes)
		}

		// Flush does not wait out the window either.
		l.Record(t.Context(), Entry{Action: "x.read", Target: "5"})
		if err := l.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 50*time.Millisecond {
			t.Errorf("Flush returned after %v, want at once", waited)
		}
		if res, err := l.Verify(t.Context()); err != nil || !res.OK || res.Records != 6 {
			t.Errorf("Verify = %+v, %v", res, err)
		}
	})
}

// TestWritesGatherWhileBusy: a record a caller waits for (Append) is
// committed at once when the log is idle; right after a commit (commits
// back to back) it waits up to the write window for others to share its
// commit, and a Flush does not wait it out.
func TestWritesGatherWhileBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &memStore{}
		const window = 2 * time.Millisecond
		l := New(m, Options{WriteWindow: window})
		runLog(t, l)
		ctx := t.Context()
		appendAt := func(target string) time.Duration {
			t.Helper()
			start := time.Now()
			if _, err := l.Append(ctx, Entry{Action: "x.write", Target: target}); err != nil {
				t.Fatal(err)
			}
			return time.Since(start)
		}

		if waited := appendAt("idle"); waited != 0 {
			t.Errorf("an idle log committed after %v, want at once", waited)
		}
		// Right after that commit: three callers at once share one commit,
		// a window later.
		var g errgroup.Group
		waits := make([]time.Duration, 3)
		for i := range waits {
			g.Go(func() error { waits[i] = appendAt(fmt.Sprint("busy-", i)); return nil })
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]time.Duration{window, window, window}, waits); diff != "" {
			t.Errorf("waits of the callers right after a commit (-want +got):\n%s", diff)
		}
		// A Flush cuts the window short.
		done := make(chan struct{})
		go func() { appendAt("flushed"); close(done) }()
		synctest.Wait()
		start := time.Now()
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		<-done
		if waited := time.Since(start); waited != 0 {
			t.Errorf("Flush took %v, want at once", waited)
		}
		// Quiet for a window: idle again.
		time.Sleep(window)
		if waited := appendAt("idle-again"); waited != 0 {
			t.Errorf("after a quiet window, committed after %v, want at once", waited)
		}
		if sizes := m.batchSizes(); !slices.Equal(sizes, []int{1, 3, 1, 1}) {
			t.Errorf("batches = %v, want [1 3 1 1]", sizes)
		}
	})
}
