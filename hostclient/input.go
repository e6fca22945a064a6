package hostclient

import (
	"bufio"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
)

// lineBroker hands the lines of the client's input to whoever asks for
// one, in order. Two kinds of reader share it: the prompt loop, asking
// for the next command, and the elicitation and sampling handlers, asking
// the person a question while a command runs (or, rarely, while the
// prompt is idle, when a server sends a request on its own).
//
// A handler's question always gets the next line before the prompt loop
// does, and lines that arrive while nobody is asking wait in order. So a
// script such as
//
//	call escalate {"id":"T-1"}
//	yes
//	accept
//	quit
//
// answers the elicitation with "yes" and "accept", exactly as a person
// typing at the terminal would.
//
// The source is read by one goroutine, started on the first question, so
// that a one-shot call never touches its input unless the server asks
// something.
type lineBroker struct {
	src   io.Reader
	start sync.Once

	mu      sync.Mutex
	buf     []string      // lines nobody has asked for yet
	err     error         // io.EOF or the read error, once the source is done
	askers  []chan answer // handlers waiting for a line, first come first served
	command chan answer   // the prompt loop waiting for a line, if it is
}

type answer struct {
	line string
	err  error
}

func newLineBroker(src io.Reader) *lineBroker {
	return &lineBroker{src: src}
}

// next returns the next line. A handler passes priority=true; the
// prompt loop passes false. At the end of the input it returns io.EOF.
func (b *lineBroker) next(ctx context.Context, priority bool) (string, error) {
	b.start.Do(func() { go b.read() })

	b.mu.Lock()
	if len(b.buf) > 0 {
		line := b.buf[0]
		b.buf = b.buf[1:]
		b.mu.Unlock()
		return line, nil
	}
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return "", err
	}
	ch := make(chan answer, 1)
	if priority {
		b.askers = append(b.askers, ch)
	} else {
		b.command = ch
	}
	b.mu.Unlock()

	select {
	case a := <-ch:
		return a.line, a.err
	case <-ctx.Done():
		b.mu.Lock()
		b.askers = slices.DeleteFunc(b.askers, func(c chan answer) bool { return c == ch })
		if b.command == ch {
			b.command = nil
		}
		// A line may have been handed over just before we gave up: put
		// it back for the next reader.
		select {
		case a := <-ch:
			if a.err == nil {
				b.buf = append([]string{a.line}, b.buf...)
			}
		default:
		}
		b.mu.Unlock()
		return "", ctx.Err()
	}
}

func (b *lineBroker) read() {
	sc := bufio.NewScanner(b.src)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		b.deliver(strings.TrimSuffix(sc.Text(), "\r"))
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
	for _, ch := range b.askers {
		ch <- answer{err: err}
	}
	b.askers = nil
	if b.command != nil {
		b.command <- answer{err: err}
		b.command = nil
	}
}

func (b *lineBroker) deliver(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case len(b.askers) > 0:
		ch := b.askers[0]
		b.askers = b.askers[1:]
		ch <- answer{line: line}
	case b.command != nil:
		b.command <- answer{line: line}
		b.command = nil
	default:
		b.buf = append(b.buf, line)
	}
}

// syncWriter serializes writes: notifications arrive on the SDK's
// goroutines while the prompt loop prints.
type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
