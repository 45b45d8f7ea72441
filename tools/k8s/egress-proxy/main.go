// Command egress-proxy is the sandbox's whole "cluster network" as kube-apiserver sees it.
//
// The apiserver's egress selector sends every connection into the cluster network (the kubelet
// for logs/exec/attach/port-forward, Service-backed webhooks and aggregated APIs, the proxy
// subresources) as an HTTP CONNECT over a Unix socket. Nothing of that network exists in the
// sandbox except kwok's server, which plays the kubelet of every fake node. This proxy listens on
// that socket and
//
//   - tunnels a CONNECT to one of the --allow addresses (kwok's server) byte for byte;
//   - answers any other CONNECT at once with 503 and closes, so a webhook that fails open costs
//     no time and fails the same way on every machine (dialling a ClusterIP would depend on the
//     host's routes: a dropped SYN costs the whole webhook timeout on every pod creation);
//   - tunnels a CONNECT to an address named in the --map file to the address it maps to: the
//     sandbox's real node (scripts/sandbox node) has a node IP on its pod bridge, but its kubelet
//     listens on 127.0.0.1 only; the file is read at every CONNECT, so the node can come and go
//     while the proxy runs;
//   - answers GET /healthz with "ok" (scripts/sandbox waits for it).
//
// Standard library only, so it builds with the rest of tools/k8s and adds no module.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var socket string
	var allow listFlag
	var mapFile string
	flag.StringVar(&socket, "socket", "", "Unix socket to listen on (the egress selector's udsName)")
	flag.StringVar(&mapFile, "map", "", "file of 'FROM TO' lines (HOST:PORT each): a CONNECT to FROM goes to TO; read at every CONNECT, a missing file maps nothing")
	flag.Var(&allow, "allow", "HOST:PORT that CONNECT may reach (repeatable); everything else gets 503")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	if socket == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: egress-proxy --socket PATH [--allow HOST:PORT]...")
		os.Exit(2)
	}
	allowed := map[string]bool{}
	for _, a := range allow {
		if _, _, err := net.SplitHostPort(a); err != nil {
			log.Fatalf("--allow %q: %v", a, err)
		}
		allowed[a] = true
	}

	// sun_path holds 108 bytes with the terminating NUL; a longer path fails with a bare EINVAL.
	if len(socket) > 107 {
		log.Fatalf("socket path %s is %d bytes; Unix sockets allow at most 107 (use a shorter KFCHECK_SANDBOX_DIR)", socket, len(socket))
	}
	// A socket left by a killed proxy (SIGKILL does not unlink it) would make Listen fail.
	if fi, err := os.Lstat(socket); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			log.Fatalf("%s exists and is not a socket", socket)
		}
		if err := os.Remove(socket); err != nil {
			log.Fatalf("removing the old socket: %v", err)
		}
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		log.Fatalf("chmod %s: %v", socket, err)
	}
	log.Printf("listening on %s; CONNECT allowed to %s, refused (503) to anything else", socket, allow.String())

	// SIGTERM (scripts/sandbox down): closing the listener unlinks the socket.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		log.Printf("%v: stopping", s)
		ln.Close()
	}()

	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go serve(c.(*net.UnixConn), allowed, mapFile)
	}
}

// mapped reads the --map file: the address FROM maps to, if a line names it.
func mapped(file, from string) (string, bool) {
	if file == "" {
		return "", false
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.Printf("--map %s: %v", file, err)
		}
		return "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == from {
			if _, _, err := net.SplitHostPort(f[1]); err == nil {
				return f[1], true
			}
		}
	}
	return "", false
}

func serve(c *net.UnixConn, allowed map[string]bool, mapFile string) {
	// The apiserver sends the request at once; a peer that does not gets cut off.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})

	switch {
	case req.Method == http.MethodGet && req.URL.Path == "/healthz":
		reply(c, http.StatusOK, "ok")
		return
	case req.Method != http.MethodConnect:
		reply(c, http.StatusMethodNotAllowed, "egress-proxy: only CONNECT\n")
		return
	}

	// For CONNECT, Host is the request target (host:port).
	target := req.Host
	if to, ok := mapped(mapFile, target); ok {
		target = to
	} else if !allowed[target] {
		log.Printf("refused CONNECT %s (not kwok's server; the sandbox has no cluster network)", target)
		reply(c, http.StatusServiceUnavailable,
			fmt.Sprintf("egress-proxy: %s is not reachable: the sandbox has no cluster network, only kwok's server\n", target))
		return
	}
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		log.Printf("CONNECT %s: %v", target, err)
		reply(c, http.StatusBadGateway, fmt.Sprintf("egress-proxy: %v\n", err))
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		c.Close()
		return
	}
	start := time.Now()
	log.Printf("tunnel to %s opened", target)
	sent, received := splice(c, br, up.(*net.TCPConn))
	log.Printf("tunnel to %s closed after %.1fs (%d bytes sent, %d received)",
		target, time.Since(start).Seconds(), sent, received)
}

// splice copies both ways until both directions have ended. An ended direction is passed on as a
// half-close (CloseWrite), so each side sees the other's EOF and the connection ends normally.
// br holds what the client may have sent right after the CONNECT request. Returns the bytes
// sent to up and received from it.
func splice(c *net.UnixConn, br *bufio.Reader, up *net.TCPConn) (sent, received int64) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sent, _ = io.Copy(up, br)
		_ = up.CloseWrite()
	}()
	go func() {
		defer wg.Done()
		received, _ = io.Copy(c, up)
		_ = c.CloseWrite()
	}()
	wg.Wait()
	up.Close()
	c.Close()
	return sent, received
}

func reply(c net.Conn, code int, body string) {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
	c.Close()
}
