package app

import (
	"log/slog"
	"os"

	"github.com/parleyhq/parley/internal/gcfloor"
)

// holdGCFloor keeps the Go heap's collection goal at
// cfg.GCHeapFloorBytes or more while the gateway runs (internal/gcfloor):
// a gateway's live heap is small and its requests allocate much that dies
// young, so the runtime's default pacing spends a large part of the CPU
// on collection cycles' fixed work. A GOGC set in the environment is the
// operator's choice of pacing, and is left alone.
func holdGCFloor(floor int64, logger *slog.Logger) (release func()) {
	if floor <= 0 {
		return func() {}
	}
	if v := os.Getenv("GOGC"); v != "" {
		logger.Info("GC heap floor off: GOGC is set", "GOGC", v, "gc_heap_floor_bytes", floor)
		return func() {}
	}
	return gcfloor.Hold(floor)
}
