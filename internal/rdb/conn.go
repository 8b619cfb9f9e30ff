package rdb

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// rawConn is a plain RESP connection, for what go-redis does not do: the
// replication handshake and high-throughput pipelined RESTORE.
type rawConn struct {
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	addr string
	stop func() bool
}

// dialRaw connects and authenticates like a go-redis client with opts.
// Cancelling ctx closes the connection.
func dialRaw(ctx context.Context, o *redis.Options) (*rawConn, error) {
	var c net.Conn
	var err error
	if o.Dialer != nil {
		c, err = o.Dialer(ctx, "tcp", o.Addr)
	} else {
		d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		network := o.Network
		if network == "" {
			network = "tcp"
		}
		c, err = d.DialContext(ctx, network, o.Addr)
		if err == nil && o.TLSConfig != nil {
			tc := tls.Client(c, o.TLSConfig.Clone())
			if err = tc.HandshakeContext(ctx); err != nil {
				c.Close()
			}
			c = tc
		}
	}
	if err != nil {
		return nil, fmt.Errorf("connect to redis %s: %w", o.Addr, err)
	}
	rc := &rawConn{c: c, br: bufio.NewReaderSize(c, 1<<20), bw: bufio.NewWriterSize(c, 1<<20), addr: o.Addr}
	rc.stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	if o.Password != "" {
		args := []string{"AUTH", o.Password}
		if o.Username != "" {
			args = []string{"AUTH", o.Username, o.Password}
		}
		if _, err := rc.do(args...); err != nil {
			rc.Close()
			return nil, fmt.Errorf("authenticate to redis %s: %w", o.Addr, err)
		}
	}
	return rc, nil
}

func (rc *rawConn) Close() error {
	rc.stop()
	return rc.c.Close()
}

// serverError is an error reply (-ERR …) from Redis.
type serverError string

func (e serverError) Error() string { return string(e) }

func appendCmd(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// do sends one command and reads a status, integer, error or bulk reply.
func (rc *rawConn) do(args ...string) (string, error) {
	if _, err := rc.bw.Write(appendCmd(nil, args...)); err != nil {
		return "", err
	}
	if err := rc.bw.Flush(); err != nil {
		return "", err
	}
	return rc.reply()
}

func (rc *rawConn) line() (string, error) {
	l, err := rc.br.ReadString('\n')
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("redis %s closed the connection", rc.addr)
		}
		return "", err
	}
	return strings.TrimRight(l, "\r\n"), nil
}

func (rc *rawConn) reply() (string, error) {
	l, err := rc.line()
	if err != nil {
		return "", err
	}
	if l == "" {
		return "", fmt.Errorf("redis %s: empty reply", rc.addr)
	}
	switch l[0] {
	case '+', ':':
		return l[1:], nil
	case '-':
		return "", serverError(l[1:])
	case '$':
		n, err := strconv.Atoi(l[1:])
		if err != nil {
			return "", fmt.Errorf("redis %s: bad bulk header %q", rc.addr, l)
		}
		if n < 0 {
			return "", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rc.br, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return "", fmt.Errorf("redis %s: unexpected reply %q", rc.addr, l)
}
