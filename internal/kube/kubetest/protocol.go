package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// The protocols the kubelet speaks today; the client offers v5 first.
const (
	protoV5       = remotecommand.StreamProtocolV5Name // "v5.channel.k8s.io": v4 + stdin close signal
	protoV4       = remotecommand.StreamProtocolV4Name // "v4.channel.k8s.io": JSON Status on the error channel
	protoV4Base64 = "v4.base64.channel.k8s.io"
)

// Channel numbers of the WebSocket protocols.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// status is what the kubelet writes on the error channel when the
// command ends: Success, or Failure/NonZeroExitCode with an ExitCode cause.
func status(code int) []byte {
	st := metav1.Status{Status: metav1.StatusSuccess}
	if code != 0 {
		st = metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  remotecommand.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type: remotecommand.ExitCodeCauseType, Message: fmt.Sprint(code)}}},
		}
	}
	b, _ := json.Marshal(st)
	return b
}

func wsChannel(want bool, t wsstream.ChannelType) wsstream.ChannelType {
	if want {
		return t
	}
	return wsstream.IgnoreChannel
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, req Request, i int) {
	channels := []wsstream.ChannelType{
		chanStdin:  wsChannel(req.Stdin, wsstream.ReadChannel),
		chanStdout: wsChannel(req.Stdout, wsstream.WriteChannel),
		chanStderr: wsChannel(req.Stderr, wsstream.WriteChannel),
		chanError:  wsstream.WriteChannel,
		chanResize: wsstream.ReadChannel,
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		protoV5:       {Binary: true, Channels: channels},
		protoV4:       {Binary: true, Channels: channels},
		protoV4Base64: {Binary: false, Channels: channels},
	})
	conn.SetIdleTimeout(4 * time.Hour)
	proto, streams, err := conn.Open(w, r)
	if err != nil {
		return // the handshake already answered
	}
	defer conn.Close()
	req.Protocol = proto
	s.negotiated(i, proto)

	var stdin io.Reader
	if req.Stdin {
		stdin = streams[chanStdin]
	}
	code := s.handler(r.Context(), req, stdin, streams[chanStdout], streams[chanStderr])
	_, _ = streams[chanError].Write(status(code))
}

type streamAndReply struct {
	httpstream.Stream
	replySent <-chan struct{}
}

func (s *Server) serveSPDY(w http.ResponseWriter, r *http.Request, req Request, i int) {
	proto, err := httpstream.Handshake(r, w, []string{protoV5, protoV4})
	if err != nil {
		return // Handshake answered with the reason
	}
	streamCh := make(chan streamAndReply)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case streamCh <- streamAndReply{st, replySent}:
			return nil
		case <-r.Context().Done():
			return r.Context().Err()
		}
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	conn.SetIdleTimeout(4 * time.Hour)
	req.Protocol = proto

	// Wait, as the kubelet does, for every stream the client announced.
	want := 1
	for _, b := range []bool{req.Stdin, req.Stdout, req.Stderr, req.TTY} {
		if b {
			want++
		}
	}
	got := map[string]httpstream.Stream{}
	var replies []<-chan struct{}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	for len(replies) < want {
		select {
		case sr := <-streamCh:
			got[sr.Headers().Get(corev1.StreamType)] = sr.Stream
			replies = append(replies, sr.replySent)
		case <-ctx.Done():
			return
		}
	}
	for _, rs := range replies {
		select {
		case <-rs:
		case <-ctx.Done():
			return
		}
	}
	s.negotiated(i, proto)

	var stdin io.Reader
	if st := got[corev1.StreamTypeStdin]; st != nil {
		stdin = st
	}
	stdout, stderr := io.Writer(io.Discard), io.Writer(io.Discard)
	if st := got[corev1.StreamTypeStdout]; st != nil {
		stdout = st
	}
	if st := got[corev1.StreamTypeStderr]; st != nil {
		stderr = st
	}
	code := s.handler(r.Context(), req, stdin, stdout, stderr)
	for _, name := range []string{corev1.StreamTypeStdout, corev1.StreamTypeStderr} {
		if st := got[name]; st != nil {
			_ = st.Close()
		}
	}
	if st := got[corev1.StreamTypeError]; st != nil {
		_, _ = st.Write(status(code))
		_ = st.Close()
	}
}
