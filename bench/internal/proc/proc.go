// Package proc reads what the benchmarks measure of processes and of the
// machine: CPU time (this process's from rusage, another's from
// /proc/PID/stat), resident memory, the machine's total CPU time and load
// average. Where the platform does not say (no /proc, no rusage), the
// readings are 0 or "" and the reports print n/a.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc's CPU times: 100 a second on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// Self is the CPU time (user + system) this process has used.
func Self() time.Duration { return selfCPU() }

// CPU is the CPU time (user + system) process pid has used, from
// /proc/PID/stat, in 10 ms ticks; 0 and an error where unknown.
func CPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	_, ticks, ok := parseStat(data)
	if !ok {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(ticks) * clockTick, nil
}

// parseStat reads comm and utime+stime (fields 14 and 15) from a
// /proc/PID/stat line: "pid (comm) state ppid … utime stime …". comm may
// hold spaces and parentheses, so it is cut at the last ')'.
func parseStat(data []byte) (comm string, ticks int64, ok bool) {
	lp, rp := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if lp < 0 || rp < lp {
		return "", 0, false
	}
	f := strings.Fields(string(data[rp+1:]))
	if len(f) < 13 {
		return "", 0, false
	}
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", 0, false
		}
		ticks += n
	}
	return string(data[lp+1 : rp]), ticks, true
}

// RSS is the resident set size of process pid in bytes (VmRSS in
// /proc/PID/status); 0 and an error where unknown.
func RSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// CommandCPU is the CPU time of all processes named comm (as in
// /proc/PID/stat, e.g. "postgres"), 0 where unknown.
func CommandCPU(comm string) time.Duration {
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
		if c, t, ok := parseStat(data); ok && c == comm {
			ticks += t
		}
	}
	return time.Duration(ticks) * clockTick
}

// Machine is the CPU time all processes have used since boot, from the
// first line of /proc/stat (user, nice, system, irq, softirq, steal), or 0.
func Machine() time.Duration {
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
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += v
	}
	return time.Duration(ticks) * clockTick
}

// LoadAvg is the first three fields of /proc/loadavg, or "".
func LoadAvg() string {
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
