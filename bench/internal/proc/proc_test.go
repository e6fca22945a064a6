package proc

import (
	"os"
	"runtime"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line  string
		comm  string
		ticks int64
		ok    bool
	}{
		{"42 (go (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1 1 1", "go (weird) name", 300, true},
		{"42 (x) S 1", "", 0, false},
		{"garbage", "", 0, false},
	} {
		comm, ticks, ok := parseStat([]byte(tc.line))
		if comm != tc.comm || ticks != tc.ticks || ok != tc.ok {
			t.Errorf("parseStat(%q) = %q, %d, %t; want %q, %d, %t", tc.line, comm, ticks, ok, tc.comm, tc.ticks, tc.ok)
		}
	}
}

func TestOwnProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if _, err := CPU(os.Getpid()); err != nil {
		t.Error(err)
	}
	if rss, err := RSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("RSS = %d, %v", rss, err)
	}
}
