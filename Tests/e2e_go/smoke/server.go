package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// vireoServer is a `vireo serve --data DIR --host 127.0.0.1 --port 0` child process.
type vireoServer struct {
	cmd     *exec.Cmd
	addr    string // host:port
	logPath string
	exited  chan struct{}
	exitErr error
}

func startServer(bin, dataDir string, extra ...string) (*vireoServer, error) {
	logf, err := os.CreateTemp("", "vireo-go-smoke-*.log")
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--data", dataDir, "--host", "127.0.0.1", "--port", "0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &vireoServer{cmd: cmd, logPath: logf.Name(), exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "listening on http://"); i >= 0 && !sent {
				found <- strings.Fields(line[i+len("listening on http://"):])[0]
				sent = true
			}
		}
	}()
	go func() {
		s.exitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	select {
	case a := <-found:
		s.addr = strings.TrimSuffix(a, "/")
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("vireo serve exited before listening (%v); log %s:\n%s", s.exitErr, s.logPath, s.logTail())
	case <-time.After(60 * time.Second):
		s.kill()
		return nil, fmt.Errorf("vireo serve did not print its address within 60 s; log:\n%s", s.logTail())
	}
}

func (s *vireoServer) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *vireoServer) terminate() error { return s.cmd.Process.Signal(syscall.SIGTERM) }

func (s *vireoServer) kill() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
