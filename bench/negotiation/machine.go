package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// What the machine is doing besides the run, from /proc (Linux); elsewhere
// these say nothing (0 or "").

// processCPU is the CPU time (user + system, USER_HZ = 100 ticks a
// second) of the processes named comm (/proc/PID/stat), 0 where unknown.
func processCPU(comm string) time.Duration {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, d := range dirs {
		if d.Name()[0] < '0' || d.Name()[0] > '9' {
			continue
		}
		data, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid … utime (14th) stime (15th)
		lp, rp := strings.IndexByte(string(data), '('), strings.LastIndexByte(string(data), ')')
		if lp < 0 || rp < lp || string(data[lp+1:rp]) != comm {
			continue
		}
		f := strings.Fields(string(data[rp+1:]))
		if len(f) < 13 {
			continue
		}
		for _, v := range f[11:13] {
			var n int64
			if _, err := fmt.Sscan(v, &n); err == nil {
				ticks += n
			}
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// machineCPU is the CPU time all processes have used since boot, from the
// first line of /proc/stat (user, nice, system, irq, softirq, steal, in
// USER_HZ = 100 ticks a second), or 0.
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		var v int64
		if _, err := fmt.Sscan(f[i], &v); err != nil {
			return 0
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// loadAvg is the first three fields of /proc/loadavg, or "".
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
