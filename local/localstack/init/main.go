// Command init is a small stand-in for LocalStack's Lambda runtime-init (github.com/localstack/lambda-runtime-init,
// a fork of AWS's Runtime Interface Emulator), written for this project because the fork cannot be fetched here
// (the Go module proxy refuses it, and its releases are GitHub downloads).
//
// It is the container's entrypoint (/var/rapid/init) and speaks both sides:
//   - LocalStack's side: it serves POST :9563/invoke ({"invoke-id", "invoked-function-arn", "payload",
//     "trace-id"}), and calls back LOCALSTACK_RUNTIME_ENDPOINT: /status/<id>/ready once the runtime
//     asks for its first event, /status/<id>/error if the runtime fails to start, and per invocation
//     /invocations/<req>/logs then /invocations/<req>/response or /error.
//   - the function's side: the Lambda Runtime API (2018-06-01) on 127.0.0.1:9001 for the runtime's
//     bootstrap (/var/runtime/bootstrap, or a custom runtime's $LAMBDA_TASK_ROOT/bootstrap).
//
// It enforces AWS_LAMBDA_FUNCTION_TIMEOUT (the runtime is restarted after a timeout or a crash).
// Not implemented: extensions, X-Ray, response streaming, dropping privileges (LOCALSTACK_USER; it runs as
// the image's user), the payload size limit.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

type invocation struct {
	ID       string `json:"invoke-id"`
	ARN      string `json:"invoked-function-arn"`
	Payload  string `json:"payload"`
	TraceID  string `json:"trace-id"`
	deadline time.Time
	started  time.Time
	done     chan struct{}
	once     sync.Once
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() < 4<<20 {
		l.buf.Write(p)
	}
	return os.Stdout.Write(p)
}

func (l *logBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
}

type server struct {
	endpoint  string // LOCALSTACK_RUNTIME_ENDPOINT, e.g. http://172.17.0.1:4566/_localstack_lambda/<executor>
	runtimeID string
	timeout   time.Duration
	logs      logBuffer
	pending   chan *invocation
	mu        sync.Mutex
	current   *invocation
	readyOnce sync.Once
	ready     bool
	runtime   *exec.Cmd
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}

func (s *server) callback(path string, body []byte) {
	url := s.endpoint + path
	for attempt := 0; attempt < 5; attempt++ {
		res, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode < 300 {
				return
			}
			log.Printf("init: POST %s: HTTP %d", url, res.StatusCode)
			return
		}
		log.Printf("init: POST %s: %v", url, err)
		time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
	}
}

func (s *server) finish(inv *invocation, kind string, body []byte) {
	inv.once.Do(func() {
		// The platform lines Lambda writes around every invocation's own output, as CloudWatch shows them.
		started := inv.started
		if started.IsZero() { // timed out before the runtime asked for it
			started = inv.deadline.Add(-s.timeout)
		}
		ms := float64(time.Since(started).Microseconds()) / 1000
		text := fmt.Sprintf("START RequestId: %s Version: %s\n%sEND RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %s MB\t\n",
			inv.ID, os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"), s.logs.take(), inv.ID, inv.ID, ms, int64(ms)+1, os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
		logs, _ := json.Marshal(map[string]string{"logs": text})
		s.callback("/invocations/"+inv.ID+"/logs", logs)
		s.callback("/invocations/"+inv.ID+"/"+kind, body)
		s.mu.Lock()
		if s.current == inv {
			s.current = nil
		}
		s.mu.Unlock()
		close(inv.done)
	})
}

// POST :9563/invoke from LocalStack.
func (s *server) handleInvoke(w http.ResponseWriter, r *http.Request) {
	var inv invocation
	if err := json.NewDecoder(r.Body).Decode(&inv); err != nil || inv.ID == "" {
		http.Error(w, "bad invoke payload", http.StatusBadRequest)
		return
	}
	inv.deadline = time.Now().Add(s.timeout)
	inv.done = make(chan struct{})
	s.pending <- &inv
	go func(inv *invocation) {
		select {
		case <-inv.done:
		case <-time.After(time.Until(inv.deadline)):
			msg := fmt.Sprintf("Task timed out after %.2f seconds", s.timeout.Seconds())
			body, _ := json.Marshal(map[string]string{"errorType": "Sandbox.Timedout", "errorMessage": msg})
			log.Printf("init: %s (request %s); restarting the runtime", msg, inv.ID)
			s.finish(inv, "error", body)
			s.restartRuntime()
		}
	}(&inv)
	w.WriteHeader(http.StatusOK)
}

// GET /2018-06-01/runtime/invocation/next from the runtime.
func (s *server) handleNext(w http.ResponseWriter, r *http.Request) {
	s.readyOnce.Do(func() {
		s.mu.Lock()
		s.ready = true
		s.mu.Unlock()
		go s.callback("/status/"+s.runtimeID+"/ready", []byte("{}"))
	})
	var inv *invocation
	select {
	case inv = <-s.pending:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	s.current = inv
	inv.started = time.Now()
	s.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.ID)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.ARN)
	h.Set("Lambda-Runtime-Trace-Id", inv.TraceID)
	os.Setenv("_X_AMZN_TRACE_ID", inv.TraceID)
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, inv.Payload)
}

func (s *server) byID(id string) *invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && s.current.ID == id {
		return s.current
	}
	return nil
}

// POST /2018-06-01/runtime/invocation/<id>/response|error, POST /2018-06-01/runtime/init/error.
func (s *server) handleRuntime(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/2018-06-01/runtime/")
	body, _ := io.ReadAll(r.Body)
	if rest == "init/error" {
		s.callback("/status/"+s.runtimeID+"/error", body)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] != "invocation" || (parts[2] != "response" && parts[2] != "error") || r.Method != http.MethodPost {
		http.Error(w, `{"errorType":"InvalidRequest","errorMessage":"unknown runtime API path"}`, http.StatusNotFound)
		return
	}
	inv := s.byID(parts[1])
	if inv == nil {
		http.Error(w, `{"errorType":"InvalidRequestID","errorMessage":"no such invocation in progress"}`, http.StatusBadRequest)
		return
	}
	s.finish(inv, parts[2], body)
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

// The managed runtime's /var/runtime/bootstrap, else a custom runtime's (provided.*) in the code or a layer.
func bootstrapPath() string {
	for _, p := range []string{"/var/runtime/bootstrap", os.Getenv("LAMBDA_TASK_ROOT") + "/bootstrap", "/opt/bootstrap"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return "/var/runtime/bootstrap"
}

func (s *server) startRuntime() {
	cmd := exec.Command(bootstrapPath())
	cmd.Dir = os.Getenv("LAMBDA_TASK_ROOT")
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001")
	cmd.Stdout = &s.logs
	cmd.Stderr = &s.logs
	if err := cmd.Start(); err != nil {
		body, _ := json.Marshal(map[string]string{"errorType": "Runtime.InvalidEntrypoint", "errorMessage": err.Error()})
		s.callback("/status/"+s.runtimeID+"/error", body)
		return
	}
	s.mu.Lock()
	s.runtime = cmd
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		replaced := s.runtime != cmd
		ready := s.ready
		cur := s.current
		s.mu.Unlock()
		if replaced {
			return
		}
		msg := fmt.Sprintf("Runtime exited: %v", err)
		body, _ := json.Marshal(map[string]string{"errorType": "Runtime.ExitError", "errorMessage": msg})
		if !ready {
			log.Printf("init: %s before its first /next", msg)
			s.callback("/status/"+s.runtimeID+"/error", body)
			return
		}
		if cur != nil {
			s.finish(cur, "error", body)
		}
		log.Printf("init: %s; restarting", msg)
		s.startRuntime()
	}()
}

func (s *server) restartRuntime() {
	s.mu.Lock()
	old := s.runtime
	s.runtime = nil
	s.mu.Unlock()
	if old != nil && old.Process != nil {
		old.Process.Kill()
	}
	s.startRuntime()
}

func chmodPaths() {
	var paths []struct {
		Path string `json:"path"`
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal([]byte(os.Getenv("LOCALSTACK_CHMOD_PATHS")), &paths); err != nil {
		return
	}
	for _, p := range paths {
		if mode, err := strconv.ParseUint(p.Mode, 8, 32); err == nil {
			os.Chmod(p.Path, os.FileMode(mode))
		}
	}
}

func main() {
	log.SetFlags(0)
	endpoint := os.Getenv("LOCALSTACK_RUNTIME_ENDPOINT")
	runtimeID := os.Getenv("LOCALSTACK_RUNTIME_ID")
	if endpoint == "" || runtimeID == "" {
		log.Fatal("init: LOCALSTACK_RUNTIME_ENDPOINT and LOCALSTACK_RUNTIME_ID must be set (this init only runs under LocalStack)")
	}
	timeout := 3 * time.Second
	if t, err := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_TIMEOUT")); err == nil && t > 0 {
		timeout = time.Duration(t) * time.Second
	}
	if os.Getenv("LAMBDA_TASK_ROOT") == "" {
		os.Setenv("LAMBDA_TASK_ROOT", "/var/task")
	}
	chmodPaths()
	s := &server{endpoint: strings.TrimRight(endpoint, "/"), runtimeID: runtimeID, timeout: timeout, pending: make(chan *invocation, 1)}

	api := http.NewServeMux()
	api.HandleFunc("/2018-06-01/runtime/invocation/next", s.handleNext)
	api.HandleFunc("/2018-06-01/runtime/", s.handleRuntime)
	go func() { log.Fatal(http.ListenAndServe("127.0.0.1:9001", api)) }()

	invoke := http.NewServeMux()
	invoke.HandleFunc("/invoke", s.handleInvoke)
	go func() { log.Fatal(http.ListenAndServe("0.0.0.0:9563", invoke)) }()

	s.startRuntime()
	select {}
}
