package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/parleyhq/parley/store"
)

// feedBatch bounds how many changes a subscriber reads per query.
const feedBatch = 256

// readChangesQuery has its limit written in: SQLite prepares a statement
// again at every step when a bound parameter may change its plan, and a
// bound LIMIT made it do so for every read of the feed.
var readChangesQuery = `SELECT seq, kind, key, version, at FROM changes WHERE seq > ? ORDER BY seq LIMIT ` + strconv.Itoa(feedBatch)

// Subscribe implements store.Feed.
func (db *DB) Subscribe(ctx context.Context) (<-chan store.Change, error) {
	last, err := db.lastSeq(ctx)
	if err != nil {
		return nil, err
	}
	return db.subscribe(ctx, last), nil
}

// SubscribeAfter implements store.Feed.
func (db *DB) SubscribeAfter(ctx context.Context, seq int64) (<-chan store.Change, error) {
	var purged int64
	if err := db.reader.QueryRowContext(ctx, `SELECT purged_through FROM feed_state`).Scan(&purged); err != nil {
		return nil, db.fail("subscribe", err)
	}
	if seq < purged {
		return nil, fmt.Errorf("subscribe after change %d: changes up to %d were swept: %w", seq, purged, store.ErrEventsPurged)
	}
	return db.subscribe(ctx, seq), nil
}

func (db *DB) lastSeq(ctx context.Context) (int64, error) {
	var last sql.NullInt64
	if err := db.reader.QueryRowContext(ctx, `SELECT MAX(seq) FROM changes`).Scan(&last); err != nil {
		return 0, db.fail("read change feed", err)
	}
	if !last.Valid {
		// An empty table: the feed may still have been swept, so start after
		// what was purged.
		var purged int64
		if err := db.reader.QueryRowContext(ctx, `SELECT purged_through FROM feed_state`).Scan(&purged); err != nil {
			return 0, db.fail("read change feed", err)
		}
		return purged, nil
	}
	return last.Int64, nil
}

// subscribe starts the subscriber's goroutine. It reads the feed table from
// its own cursor whenever it is woken, so a slow reader only delays itself.
// It stops when ctx ends or the DB closes.
func (db *DB) subscribe(ctx context.Context, after int64) <-chan store.Change {
	out := make(chan store.Change)
	if !db.track() {
		close(out) // closed already: as if Close came right after
		return out
	}
	go func() {
		defer db.wg.Done()
		defer close(out)
		cursor := after
		retry := time.Duration(0)
		for {
			// Take the wake channel before reading, so that a change
			// committed during the read wakes us again.
			woken, gen := db.wake.wait()
			batch, err := db.feedReads.read(ctx, cursor, gen, db.wake.generation, db.readChanges)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				retry = min(max(2*retry, 100*time.Millisecond), 5*time.Second)
				db.log.Warn("change feed read failed; retrying", "error", err, "retry_in", retry)
				select {
				case <-time.After(retry):
					continue
				case <-ctx.Done():
					return
				case <-db.closed:
					return
				}
			}
			retry = 0
			for _, c := range batch {
				select {
				case out <- c:
					cursor = c.Seq
					db.metrics.feedDelivered(c.At)
				case <-ctx.Done():
					return
				case <-db.closed:
					return
				}
			}
			if len(batch) == feedBatch {
				continue
			}
			select {
			case <-woken:
			case <-ctx.Done():
				return
			case <-db.closed:
				return
			}
		}
	}()
	return out
}

// sharedReads lets the subscribers woken by one commit share one read of
// the feed: a gateway has several subscribers (sessions, negotiations,
// caches, …), and each used to run the same query for every change.
//
// A subscriber that took its wake channel after gen wakes needs a read
// that began after it took the channel, or else it must be woken again
// for what that read missed. A read that began when the waker had counted
// gen wakes or more is as good: anything committed before the subscriber
// took its channel was either before one of those wakes (so before the
// read began), or its wake comes later and closes the subscriber's channel,
// and the subscriber reads again.
type sharedReads struct {
	mu   sync.Mutex
	last *feedRead // the latest read begun
}

// feedRead is one read of the feed after a sequence number, begun when the
// waker had counted gen wakes. Its batch is shared: readers must not
// change it.
type feedRead struct {
	after int64
	gen   uint64
	done  chan struct{}
	batch []store.Change
	err   error
}

// read returns the changes after cursor, for a subscriber that took its
// wake channel after gen wakes: the latest read's, if it will do, or a
// read of its own with fetch. generation tells how many wakes came so far.
func (s *sharedReads) read(ctx context.Context, cursor int64, gen uint64, generation func() uint64,
	fetch func(context.Context, int64) ([]store.Change, error)) ([]store.Change, error) {
	s.mu.Lock()
	if r := s.last; r != nil && r.after == cursor && r.gen >= gen {
		s.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.err == nil {
			return r.batch, nil
		}
		// That read failed (perhaps its subscriber's context ended): read
		// for ourselves.
		s.mu.Lock()
	}
	r := &feedRead{after: cursor, gen: generation(), done: make(chan struct{})}
	s.last = r
	s.mu.Unlock()
	r.batch, r.err = fetch(ctx, cursor)
	close(r.done)
	return r.batch, r.err
}

func (db *DB) readChanges(ctx context.Context, after int64) ([]store.Change, error) {
	rows, err := db.query(ctx, db.reader, readChangesQuery, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var c store.Change
		var at int64
		if err := rows.Scan(&c.Seq, &c.Kind, &c.Key, &c.Version, &at); err != nil {
			return nil, err
		}
		c.At = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// pollFeed wakes subscribers when the feed grew without a local commit or a
// backend notification telling us: another process wrote, or a notification
// was lost while a listener reconnected.
func (db *DB) pollFeed(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var seen int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var last sql.NullInt64
		if err := db.queryRow(ctx, db.reader, `SELECT MAX(seq) FROM changes`).Scan(&last); err != nil {
			if ctx.Err() == nil {
				db.log.Debug("change feed poll failed", "error", err)
			}
			continue
		}
		if last.Int64 != seen {
			seen = last.Int64
			db.wake.wake()
		}
	}
}

// sweepFeed sweeps the feed on every tick, the first one a full interval
// after it starts: opening a store must not delete what subscribers may be
// about to read.
func (db *DB) sweepFeed(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := db.SweepFeed(ctx); err != nil {
			if ctx.Err() == nil {
				db.log.Warn("change feed sweep failed", "error", err)
			}
		} else if n > 0 {
			db.log.Debug("swept change feed", "deleted", n)
		}
	}
}

// SweepFeed deletes the changes the store committed longer ago than the
// retention, by its own clock (Options.Now), and returns how many it
// deleted. The times callers stamped changes with play no part: a change
// just committed survives whatever its Change.At says. It records how far
// the feed was purged, so that a subscriber resuming from before that point
// is told (store.ErrEventsPurged) instead of silently missing changes. Run
// calls it hourly.
func (db *DB) SweepFeed(ctx context.Context) (int64, error) {
	cutoff := micros(db.now().Add(-db.retention))
	var deleted int64
	err := db.inTx(ctx, "sweep change feed", func(tx *sql.Tx) (bool, error) {
		// Only a prefix of the feed goes, and only changes older than the
		// cutoff: up to the first change still within the retention, so
		// that a change stamped by a clock that lags never takes newer ones
		// with it.
		var through sql.NullInt64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT MAX(seq) FROM changes WHERE seq < COALESCE(
			(SELECT MIN(seq) FROM changes WHERE committed_at >= ?),
			(SELECT MAX(seq) FROM changes) + 1)`), cutoff).Scan(&through); err != nil {
			return false, err
		}
		if !through.Valid {
			return false, nil
		}
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM changes WHERE seq <= ?`), through.Int64)
		if err != nil {
			return false, err
		}
		deleted, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, db.q(`UPDATE feed_state SET purged_through = ? WHERE purged_through < ?`), through.Int64, through.Int64)
		return false, err
	})
	return deleted, err
}
