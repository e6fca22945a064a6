package mcpclient

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoIn struct {
	Text string `json:"text"`
}

// newServer is a go-sdk server with an echo tool on 127.0.0.1, stateless
// or not.
func newServer(t *testing.T, stateless bool) string {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: stateless})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func target(url string) Target {
	return Target{
		Name: "test", URL: url,
		HTTPClient: func(int) (*http.Client, error) { return &http.Client{}, nil },
		ClientName: func(int) string { return "test-client" },
	}
}

func TestConnectClients(t *testing.T) {
	stateful, stateless := newServer(t, false), newServer(t, true)
	for _, tc := range []struct {
		name    string
		url     string
		mode    Mode
		wantErr string
	}{
		{"session on a session server", stateful, ModeSession, ""},
		// A stateful handler answers 2026-07-28 with an older revision.
		{"stateless on a session server", stateful, ModeStateless, "not 2026-07-28 or later"},
		{"stateless on a stateless server", stateless, ModeStateless, ""},
		// The server answers initialize but keeps no session: not the
		// generation asked for.
		{"session on a stateless server", stateless, ModeSession, "without a session ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			css, err := ConnectClients(t.Context(), target(tc.url), tc.mode, 3, 10*time.Second)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer CloseAll(css)
			if len(css) != 3 {
				t.Fatalf("%d sessions, want 3", len(css))
			}
			want := tc.mode.ProtocolVersion()
			if want == "" {
				want = StatelessVersion
			}
			if got := css[0].InitializeResult().ProtocolVersion; got != want {
				t.Errorf("negotiated %s, want %s", got, want)
			}
		})
	}
}

func TestLoop(t *testing.T) {
	css, err := ConnectClients(t.Context(), target(newServer(t, true)), ModeStateless, 2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll(css)
	echo := func(fail func(seq int) bool) Call {
		return func(ctx context.Context, cs *mcp.ClientSession, client, seq int, _ *rand.Rand) error {
			if fail(seq) {
				return errors.New("failed on purpose")
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: echoIn{Text: "hi"}})
			if err != nil {
				return err
			}
			if got := ResultText(res); got != "hi" {
				return errors.New("got " + got)
			}
			return nil
		}
	}
	type got struct {
		Calls, Errors int64
		FirstError    string
	}
	for _, tc := range []struct {
		name string
		call Call
		want got
	}{
		{"all succeed", echo(func(int) bool { return false }), got{Calls: 20}},
		{"every client's first fails", echo(func(seq int) bool { return seq == 0 }), got{Calls: 20, Errors: 2, FirstError: "failed on purpose"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Loop{Name: "echo", Target: "test", Sessions: css, Call: tc.call, CallTimeout: 10 * time.Second, Total: 20}
			p, err := l.Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got{p.Calls(), p.Errors, p.FirstError}); diff != "" {
				t.Errorf("loop (-want +got):\n%s", diff)
			}
			o := p.Outcome()
			if o.Calls != tc.want.Calls || o.Errors != tc.want.Errors || o.RPS <= 0 || o.MaxMs < o.P50Ms || o.P50Ms <= 0 {
				t.Errorf("outcome %+v: want %d calls, %d errors, a throughput and latencies", o, tc.want.Calls, tc.want.Errors)
			}
			var sum Phase
			sum.Add(p)
			sum.Add(p)
			if sum.Calls() != 2*p.Calls() || sum.Errors != 2*p.Errors || sum.Elapsed != 2*p.Elapsed {
				t.Errorf("two rounds added: %d calls, %d errors, %s; want twice %d, %d, %s", sum.Calls(), sum.Errors, sum.Elapsed, p.Calls(), p.Errors, p.Elapsed)
			}
		})
	}
	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		l := Loop{Name: "echo", Target: "test", Sessions: css, Call: echo(func(int) bool { return false }), CallTimeout: time.Second, Duration: time.Hour}
		if _, err := l.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	})
}

func TestOutcomeOfNothing(t *testing.T) {
	var p Phase
	if diff := cmp.Diff(Outcome{}, p.Outcome()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseModes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Mode
	}{
		{"both", []Mode{ModeStateless, ModeSession}},
		{"stateless", []Mode{ModeStateless}},
		{"session", []Mode{ModeSession}},
		{"both-ish", nil},
	} {
		got, err := ParseModes(tc.in)
		if (err != nil) != (tc.want == nil) {
			t.Errorf("%q: err %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestResultText(t *testing.T) {
	long := strings.Repeat("x", 400)
	for _, tc := range []struct {
		name string
		res  *mcp.CallToolResult
		want string
	}{
		{"texts joined", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}, &mcp.TextContent{Text: "b"}}}, "ab"},
		{"a long result whole", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: long}}}, long},
		{"a long error cut", &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: long}}}, long[:300] + "…"},
	} {
		if got := ResultText(tc.res); got != tc.want {
			t.Errorf("%s: got %d bytes %.20q…, want %d bytes", tc.name, len(got), got, len(tc.want))
		}
	}
}
