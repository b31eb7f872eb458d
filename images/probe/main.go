// probe: kubelab's test workload program, in the testbox image beside busybox. Three commands:
//
//	probe serve [--port 8080]     HTTP: GET / answers the pod's hostname, GET /healthz answers ok
//	probe get URL [--ca FILE] [--token-file FILE] [--timeout 5s]
//	                              GET with optional CA verification and bearer token; prints the
//	                              body; exit 0 on 2xx, else 1 with the status or error on stderr
//	probe hog MiB                 allocates and touches that much memory, then sleeps
//	probe resolve NAME            prints NAME's addresses, one per line, through the pod's resolver
//	                              (resolv.conf search list and ndots, as applications see them)
//
// Standard library only, built static (CGO_ENABLED=0) by scripts/lib/artifacts/build/build.sh.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `usage:
  probe serve [--port 8080]
  probe get URL [--ca FILE] [--token-file FILE] [--timeout 5s]
  probe hog MiB
  probe resolve NAME`

func main() {
	if len(os.Args) < 2 {
		fail(2, usage)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "get":
		err = get(os.Args[2:])
	case "hog":
		err = hog(os.Args[2:])
	case "resolve":
		err = resolve(os.Args[2:])
	case "-v", "--version", "version":
		fmt.Println("probe (kubelab)")
	default:
		fail(2, usage)
	}
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			fail(ee.code, ee.msg)
		}
		fail(1, "probe: "+err.Error())
	}
}

type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func fail(code int, msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(code)
}

// flags parses interspersed flags: positional arguments may come before or after them.
func flags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, exitError{2, err.Error() + "\n" + usage}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	port := fs.Int("port", 8080, "TCP port to listen on")
	if pos, err := flags(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return exitError{2, usage}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		name, err := os.Hostname()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, name)
	})
	srv := &http.Server{Addr: fmt.Sprintf(":%d", *port), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(os.Stderr, "probe: serving on %s\n", srv.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func get(args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	ca := fs.String("ca", "", "PEM file of the CA(s) to verify the server with")
	tokenFile := fs.String("token-file", "", "file with a bearer token")
	timeout := fs.Duration("timeout", 5*time.Second, "whole-request timeout")
	pos, err := flags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return exitError{2, usage}
	}
	url := pos[0]
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificates", *ca)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if *tokenFile != "" {
		token, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	client := &http.Client{Transport: transport, Timeout: *timeout}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: reading the body: %w", resp.Status, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return exitError{1, fmt.Sprintf("probe: GET %s: %s\n%s", url, resp.Status, strings.TrimSpace(string(body)))}
	}
	_, err = os.Stdout.Write(body)
	return err
}

func hog(args []string) error {
	if len(args) != 1 {
		return exitError{2, usage}
	}
	mib, err := strconv.Atoi(args[0])
	if err != nil || mib < 0 {
		return exitError{2, "probe hog: MiB must be a non-negative integer\n" + usage}
	}
	const page = 4096
	chunks := make([][]byte, 0, mib)
	for i := 0; i < mib; i++ {
		c := make([]byte, 1<<20)
		for j := 0; j < len(c); j += page {
			c[j] = 1 // touch every page so it is really resident
		}
		chunks = append(chunks, c)
	}
	fmt.Fprintf(os.Stderr, "probe: holding %d MiB\n", len(chunks))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	runtime.KeepAlive(chunks)
	return nil
}

func resolve(args []string) error {
	if len(args) != 1 {
		return exitError{2, usage}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, args[0])
	if err != nil {
		return err
	}
	for _, a := range addrs {
		fmt.Println(a)
	}
	return nil
}
