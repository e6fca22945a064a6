// Package stack grows a goroutine's stack ahead of need.
//
// A goroutine starts with a small stack (2 KiB, or the average the
// runtime saw at the last collection) and the runtime doubles it each
// time a call would overflow it, copying the stack and adjusting every
// frame on it. The cost of a growth is proportional to the frames on the
// stack when it happens. The gateway's request goroutines (net/http's per
// connection, go-sdk's per JSON-RPC call) reach a depth of thirty frames
// or more through the middleware before the parts that need a large
// stack run (JSON Schema validation, SQLite's interpreter), so each of
// their growths copies the whole chain, once per doubling and per
// request. Grow, called at the top of such a goroutine, takes the stack
// to its working size in one growth of a few frames; when the stack is
// already that large it costs a function call.
package stack

// Size is the stack Grow gives a goroutine: what a request of the
// gateway's was seen to need (a tools/call through the middleware, the
// arguments' validation and a store read). It is the largest stack size
// the runtime keeps a cache of per processor: a larger one comes from the
// heap, under its lock.
const Size = 16 << 10

// slack is what Grow leaves of Size for the frames on the stack already
// and the runtime's guard: so that one growth reaches Size, not the
// doubling beyond it.
const slack = 4 << 10

// grown and at keep the compiler from dropping growInto's frame: grown is
// never true.
var (
	grown bool
	at    int
	last  byte
)

// Grow makes sure the calling goroutine's stack is about Size bytes, when
// called near the goroutine's start.
func Grow() { growInto() }

// growInto's frame is what the runtime must make room for on entry.
//
//go:noinline
func growInto() {
	if grown {
		// Declared here, not above, so that it is zeroed only here: the
		// frame is as large either way.
		var frame [Size - slack]byte
		for i := range frame {
			frame[i] = byte(i)
		}
		last = frame[at]
	}
}
