package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// child is a helper process a test started: an agent, an upstream.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
}

// startListening starts cmd with stderr going to logs (which the failure
// messages print), and waits for the first line it prints on stdout,
// which must match listening: the process says where it listens once it
// does. It returns the running child and the line's submatches. The
// test's cleanup kills it.
func startListening(t *testing.T, what string, cmd *exec.Cmd, logs io.Writer, listening *regexp.Regexp) (*child, []string) {
	t.Helper()
	c := &child{cmd: cmd, exited: make(chan struct{})}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		_ = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(c.kill)
	select {
	case line := <-lines:
		m := listening.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s printed %q, want its listening line", what, line)
		}
		return c, m
	case <-c.exited:
		t.Fatalf("%s exited before listening:\n%s", what, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not say where it listens:\n%s", what, logs)
	}
	return nil, nil
}

// kill kills the process at once (SIGKILL) and waits for it.
func (c *child) kill() {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}
