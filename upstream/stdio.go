package upstream

// stdio upstreams: a command Parley starts, talks to over stdin and
// stdout, and supervises (the health loop starts it again with backoff
// when it exits, and closing its session stops it: stdin closed, then
// SIGTERM, then SIGKILL). Its stderr goes to Parley's log, a line per
// record.
//
// The child gets a small environment, not Parley's: PATH, HOME, USER,
// LANG, LC_ALL, TZ and TMPDIR, plus the spec's Env. Parley's own
// environment may hold secrets (client secrets, bearer tokens, database
// URLs) that a third-party server has no business reading.

import (
	"bytes"
	"log/slog"
	"os/exec"
	"sort"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inheritedEnv are the variables a stdio upstream inherits from Parley.
var inheritedEnv = []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// terminateWait is how long a stdio upstream has to exit after its stdin
// closes, before it is sent SIGTERM (and as long again before SIGKILL).
const terminateWait = 5 * time.Second

func (u *Conn) commandTransport() mcp.Transport {
	cmd := exec.Command(u.spec.Command[0], u.spec.Command[1:]...)
	cmd.Dir = u.spec.Dir
	cmd.Env = stdioEnv(u.m.opts.Getenv, u.spec.Env)
	cmd.Stderr = &lineLogger{log: u.log.With("stream", "stderr")}
	return &mcp.CommandTransport{Command: cmd, TerminateDuration: terminateWait}
}

func stdioEnv(getenv func(string) string, extra map[string]string) []string {
	var env []string
	for _, k := range inheritedEnv {
		if _, set := extra[k]; set {
			continue
		}
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// lineLogger logs what is written to it, a record per line (a partial
// last line waits for its end). Lines are capped so that a child writing
// without newlines cannot grow it without bound.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

const maxLogLine = 8 << 10

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLogLine {
				w.log.Info(string(w.buf[:maxLogLine]))
				w.buf = w.buf[maxLogLine:]
				continue
			}
			return len(p), nil
		}
		if line := bytes.TrimRight(w.buf[:i], "\r"); len(line) > 0 {
			w.log.Info(string(line))
		}
		w.buf = w.buf[i+1:]
	}
}
