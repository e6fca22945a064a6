package upstream

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestNoteCounterWaitsForWhatWasRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n noteCounter
		n.wait(t.Context()) // nothing read: no wait

		n.add()
		n.add()
		returned := make(chan struct{})
		go func() {
			n.wait(t.Context())
			close(returned)
		}()
		synctest.Wait()
		// Notifications read after the call's result do not hold it up,
		// however slowly the first two are handled.
		n.add()
		for range 2 {
			time.Sleep(settleStall - time.Second)
			select {
			case <-returned:
				t.Fatal("wait returned before the notifications read before it were handled")
			default:
			}
			n.done()
			synctest.Wait()
		}
		select {
		case <-returned:
		default:
			t.Fatal("wait did not return once the two notifications read before it were handled")
		}
	})
}

func TestNoteCounterGivesUpOnAStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var n noteCounter
		n.add() // never handled
		start := time.Now()
		n.wait(t.Context())
		if d := time.Since(start); d != settleStall {
			t.Errorf("wait for a notification never handled took %v, want %v", d, settleStall)
		}

		// A handled notification that was never counted does not stand
		// for one that was.
		var m noteCounter
		m.done()
		m.add()
		start = time.Now()
		m.wait(t.Context())
		if d := time.Since(start); d != settleStall {
			t.Errorf("wait after an uncounted notification took %v, want %v", d, settleStall)
		}

		// The caller giving up ends the wait.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start = time.Now()
		n.wait(ctx)
		if d := time.Since(start); d != time.Second {
			t.Errorf("wait with a context ending after 1s took %v", d)
		}
	})
}
